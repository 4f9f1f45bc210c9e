// The short form of the chaos run (`npm run chaos` is the long one): events
// published while the pipeline is SIGKILLed twice and nats-server once, with
// duplicates, out-of-order and late events; the ledger, every rollup and
// every post's total must equal what was uniquely published.
import { describe, expect, it } from "vitest";
import { runChaos } from "../chaos/run-chaos.ts";

describe("chaos (short form)", () => {
  it("keeps the ledger and its rollups exact through kills, a nats restart and duplicates", async () => {
    const report = await runChaos({ events: 6000, pipelineKills: 2, natsRestarts: 1, publishSeconds: 20, seed: 3 });
    expect(report.pipeline_kills).toBe(2);
    expect(report.nats_restarts).toBe(1);
    expect(report.kills_while_publishing).toBe(3);
    expect(report.duplicate_events_published).toBeGreaterThan(0);
    expect(report.late_events).toBeGreaterThan(0);
    for (const c of report.checks) expect(c, c.name).toMatchObject({ equal: true });
    expect(report.checks.length).toBeGreaterThanOrEqual(17);
  }, 300_000);
});
