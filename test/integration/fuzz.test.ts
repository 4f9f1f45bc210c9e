// The short form of the fuzz run (`npm run fuzz` sends 100,000): malformed
// messages of every kind straight onto the events subject; the stack stays up,
// each lands in the DLQ with a reason (exactly its records, no more), and the
// ledger holds only the valid control events with hostile tenant strings.
import { describe, expect, it } from "vitest";
import { generators, runFuzz } from "../fuzz/run-fuzz.ts";

describe("fuzz (short form)", () => {
  it("dead-letters every malformed message with a reason and stores none of them", async () => {
    const report = await runFuzz({ messages: 4000, seed: 5 });
    expect(Object.keys(report.by_kind).sort()).toEqual(Object.keys(generators).sort());
    expect(report.stack_alive).toBe(true);
    expect(report.dlq_records).toBe(report.expected_dlq_records);
    expect(report.mismatched_messages).toBe(0);
    expect(report.enrich_unsettled).toBe(0);
    expect(Object.keys(report.dlq_by_reason).sort()).toEqual([
      "amount_out_of_range",
      "invalid_usage",
      "not_json",
      "oversized",
      "too_many_decimals",
      "unknown_type",
      "validation",
    ]);
    expect(report.ledger_rows).toBe(report.control_events);
    expect(report.control_tenants_exact).toBe(true);
  }, 300_000);
});
