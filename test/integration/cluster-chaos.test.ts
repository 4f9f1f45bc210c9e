// The short form of the cluster chaos run (`npm run chaos:cluster` is the long
// one): three NATS nodes with R3 streams, three costline processes each
// running every stage, duplicates, one costline process and the events
// stream's leader SIGKILLed and restarted mid-run, a spike after the kills.
// Asserts the ledger and its rollups exact per tenant; the window and spike
// checks are reported (they need partitioned, checkpointed stateful stages).
import { describe, expect, it } from "vitest";
import { runClusterChaos } from "../chaos/run-cluster-chaos.ts";

describe("cluster chaos (short form)", () => {
  it("keeps the ledger exact through a costline process and a NATS node killed, on three processes and three nodes", async () => {
    const report = await runClusterChaos({ events: 3000, publishSeconds: 30, latenessS: 15, seed: 5 });
    expect(report.costline_kills).toBe(1);
    expect(report.nats_kills).toBe(1);
    expect(report.kills_while_publishing).toBe(2);
    expect(report.duplicate_events_published).toBeGreaterThan(0);
    for (const c of report.checks.filter(
      (x) => x.name.startsWith("ledger") || (x.name.includes("cost_usd") && !x.name.startsWith("final")),
    ))
      expect(c, c.name).toMatchObject({ equal: true });
    expect(report.checks.some((c) => c.name.startsWith("final windows"))).toBe(true);
    expect(report.checks.some((c) => c.name.startsWith("spike"))).toBe(true);
  }, 600_000);
});
