// `npm run fuzz -- [--messages N] [--out FILE]`: the long fuzz run (see
// run-fuzz.ts); prints a JSON report and exits 1 when a message is not
// accounted for, the ledger holds anything but the control events, or the
// stack died.
import { writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { runFuzz } from "./run-fuzz.ts";

const { values: args } = parseArgs({
  options: { messages: { type: "string", default: "100000" }, seed: { type: "string", default: "11" }, out: { type: "string" } },
});
const report = await runFuzz({
  messages: Number(args.messages),
  seed: Number(args.seed),
  log: (l) => process.stderr.write(`[fuzz] ${l}\n`),
});
const json = `${JSON.stringify(report, null, 2)}\n`;
if (args.out) writeFileSync(args.out, json);
process.stdout.write(json);
const ok =
  report.stack_alive &&
  report.enrich_unsettled === 0 &&
  report.mismatched_messages === 0 &&
  report.dlq_records === report.expected_dlq_records &&
  report.ledger_rows === report.control_events &&
  report.control_tenants_exact;
process.exit(ok ? 0 : 1);
