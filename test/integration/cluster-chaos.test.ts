// The short form of the cluster chaos run (`npm run chaos:cluster` is the long
// one): three NATS nodes with R3 streams, three costline processes each
// running every stage, duplicates, one costline process and the events
// stream's leader SIGKILLed and restarted mid-run, a spike after the kills.
//
// It takes two and a half to four minutes on a two-core machine (three nodes and
// three processes to start, the spike tenant's lead, then the windows' lateness to pass), so it runs
// only when COSTLINE_CLUSTER_CHAOS=1. The ledger's per-tenant count and sum
// (read with FINAL) must be exact on any build; every other check — rows
// stored, rollups, windows against the ledger, the spike alerted once — needs
// stateful stages that own partitions, and is asserted once the build has
// partition leases (a lease bucket on NATS).
import { describe, expect, it } from "vitest";
import { runClusterChaos } from "../chaos/run-cluster-chaos.ts";

describe.runIf(process.env.COSTLINE_CLUSTER_CHAOS === "1")("cluster chaos (short form)", () => {
  it("keeps the ledger exact through a costline process and a NATS node killed, on three processes and three nodes", async () => {
    // Spike at 80 % of 30 s is six 4 s windows in: a 30 s lead gives the spike tenant the twelve windows of history its check needs.
    const report = await runClusterChaos({ events: 3000, publishSeconds: 30, latenessS: 15, spikeLeadS: 30, seed: 5 });
    expect(report.costline_kills).toBe(1);
    expect(report.nats_kills).toBe(1);
    expect(report.kills_while_publishing).toBe(2);
    expect(report.duplicate_events_published).toBeGreaterThan(0);
    const perTenant = report.checks.filter((c) => /^ledger (events|cost_usd) /.test(c.name));
    expect(perTenant.length).toBe(10);
    for (const c of perTenant) expect(c, c.name).toMatchObject({ equal: true });
    if (report.leases.buckets.length > 0) for (const c of report.checks) expect(c, c.name).toMatchObject({ equal: true });
    // The killed process held leases, and the others took every one of them over.
    expect(report.takeover.leases_held).toBeGreaterThan(0);
    expect(report.takeover.all_ms).not.toBeNull();
  }, 900_000);
});
