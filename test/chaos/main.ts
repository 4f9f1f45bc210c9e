// `npm run chaos -- [--events N] [--kills K] [--nats-restarts R] [--publish-seconds S] [--out FILE]`:
// the long chaos run (see run-chaos.ts); prints a JSON report and exits 1 when
// the ledger does not equal what was uniquely published.
import { writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { runChaos } from "./run-chaos.ts";

const { values: args } = parseArgs({
  options: {
    events: { type: "string", default: "100000" },
    kills: { type: "string", default: "12" },
    "nats-restarts": { type: "string", default: "3" },
    "publish-seconds": { type: "string", default: "120" },
    seed: { type: "string", default: "1" },
    out: { type: "string" },
  },
});

const report = await runChaos({
  events: Number(args.events),
  pipelineKills: Number(args.kills),
  natsRestarts: Number(args["nats-restarts"]),
  publishSeconds: Number(args["publish-seconds"]),
  seed: Number(args.seed),
  log: (line) => process.stderr.write(`[chaos] ${line}\n`),
});
const json = `${JSON.stringify(report, null, 2)}\n`;
if (args.out) writeFileSync(args.out, json);
process.stdout.write(json);
for (const c of report.checks.filter((x) => !x.equal))
  process.stderr.write(`[chaos] NOT EQUAL: ${c.name}: expected ${c.expected}, got ${c.actual}\n`);
process.exit(report.equal ? 0 : 1);
