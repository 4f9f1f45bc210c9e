// `npm run chaos:cluster -- [--events N] [--publish-seconds S] [--seed N] [--duplicate-window-s S] [--out FILE]`:
// the cluster chaos run (see run-cluster-chaos.ts); prints a JSON report and
// exits 1 when a check is not equal.
import { writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { runClusterChaos } from "./run-cluster-chaos.ts";

const { values: args } = parseArgs({
  options: {
    events: { type: "string", default: "100000" },
    "publish-seconds": { type: "string", default: "150" },
    seed: { type: "string", default: "1" },
    "duplicate-window-s": { type: "string", default: "5" },
    out: { type: "string" },
  },
});

const report = await runClusterChaos({
  events: Number(args.events),
  publishSeconds: Number(args["publish-seconds"]),
  seed: Number(args.seed),
  duplicateWindowS: Number(args["duplicate-window-s"]),
  log: (line) => process.stderr.write(`[chaos:cluster] ${line}\n`),
});
const json = `${JSON.stringify(report, null, 2)}\n`;
if (args.out) writeFileSync(args.out, json);
process.stdout.write(json);
for (const c of report.checks.filter((x) => !x.equal))
  process.stderr.write(`[chaos:cluster] NOT EQUAL: ${c.name}: expected ${c.expected}, got ${c.actual}\n`);
process.exit(report.equal ? 0 : 1);
