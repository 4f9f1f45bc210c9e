// The detector owns partitions and checkpoints its baselines and alert book:
// instance A judges two tenants' window series (one of them spiking), then
// its NATS connection is cut — to NATS, a crash: no more heartbeats, nothing
// more acknowledged. Instance B takes the partitions over when the leases
// lapse and resumes from the checkpoints: the spike still going on does not
// alert again, and the other tenant's first spike alerts at once (B's
// baseline is not cold: a cold one needs twelve windows before it judges).
// Real nats-server, real ClickHouse (chdb).
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { jetstream, jetstreamManager, type JetStreamClient } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import { loadConfig, type Config } from "../../pipeline/config/config.ts";
import { openClickHouse, type Ledgerbase } from "../../pipeline/clickhouse/client.ts";
import { migrate } from "../../pipeline/clickhouse/migrate.ts";
import { startEmbeddedNats, type EmbeddedNats } from "../../pipeline/nats/embedded-server.ts";
import { applyTopology, partitionDurable } from "../../pipeline/nats/topology.ts";
import { createSubjects, streamNames } from "../../pipeline/nats/subjects.ts";
import { partitionOf } from "../../pipeline/nats/partition.ts";
import { createLogger } from "../../pipeline/observability/log.ts";
import { createMetrics } from "../../pipeline/observability/metrics.ts";
import { createPricedDecoder } from "../../pipeline/ledger/priced-decoder.ts";
import { stageRegistry } from "../../pipeline/stack/stage-registry.ts";
import type { RunningStage } from "../../pipeline/runner/consumer-runner.ts";
import type { Alert, WindowAggregate } from "../../schemas/index.ts";
import { tenantWindow } from "../helpers/windows.ts";
import { tempHome, waitFor } from "../helpers/stack-process.ts";

const home = tempHome("costline-detector-takeover-");
const PARTITIONS = 2;
const settings = {
  COSTLINE_PARTITIONS: String(PARTITIONS),
  COSTLINE_WINDOW_CHECKPOINT_MS: "200",
  COSTLINE_ACK_WAIT_S: "5",
  COSTLINE_LEASE_TTL_MS: "2000",
};
const T = "steady-spiker";
const U = "later-spiker";
let server: EmbeddedNats;
let nc: NatsConnection;
let js: JetStreamClient;
let db: Ledgerbase;
let config: Config;
const subjects = createSubjects("costline", PARTITIONS);
const alerts: Alert[] = [];

interface Instance {
  nc: NatsConnection;
  abort: AbortController;
  stages: RunningStage[];
}

async function detector(name: string): Promise<Instance> {
  const inc = await connect({ servers: server.url });
  const abort = new AbortController();
  const stages = await stageRegistry.detector({
    config,
    instance: { id: name, takeOverFrom: [] },
    nc: inc,
    js: jetstream(inc),
    subjects,
    clickhouse: db.client,
    metrics: createMetrics(config.metrics),
    decodePriced: createPricedDecoder(0),
    log: createLogger("silent"),
    signal: abort.signal,
  });
  return { nc: inc, abort, stages };
}

const t0 = Date.parse("2026-11-20T10:00:00Z");
const win = (tenant: string, i: number, cost: string): WindowAggregate =>
  tenantWindow({ tenant, key: { tenant }, start: new Date(t0 + i * 60_000).toISOString(), cost });
const publish = (w: WindowAggregate) =>
  js.publish(subjects.windows(w.scope, w.tenant), JSON.stringify([w]), { msgID: `${w.tenant}-${w.window_start}` });
const spikes = (tenant: string) => alerts.filter((a) => a.tenant === tenant && a.type === "spike" && a.status === "firing");

/** Every window message of both tenants judged and acknowledged (so checkpointed). */
async function settled(): Promise<void> {
  const jsm = await jetstreamManager(nc);
  await waitFor(
    "the detector's consumers to have acknowledged every window",
    async () => {
      for (const p of new Set([T, U].map((t) => partitionOf(t, PARTITIONS)))) {
        const info = await jsm.consumers.info(streamNames.windows, partitionDurable("detector", p));
        if (info.num_pending > 0 || info.num_ack_pending > 0) return undefined;
      }
      return true;
    },
    60_000,
  );
}

beforeAll(async () => {
  server = await startEmbeddedNats({ bin: "nats-server", storeDir: path.join(home, "nats"), logFile: path.join(home, "nats.log") });
  nc = await connect({ servers: server.url });
  js = jetstream(nc);
  config = loadConfig({ COSTLINE_HOME: home, ...settings });
  await applyTopology(nc, await jetstreamManager(nc), config);
  db = await openClickHouse({ ...config.clickhouse, url: undefined });
  await migrate(db.client);
  const sub = nc.subscribe("costline.alerts.>");
  void (async () => {
    for await (const m of sub) alerts.push(m.json<Alert>());
  })();
}, 120_000);
afterAll(async () => {
  await nc?.close();
  await db?.close();
  await server?.stop();
});

describe("detector takeover", () => {
  it("resumes a partition from its checkpoint: baselines kept, a spike already alerted not alerted again", async () => {
    const a = await detector("det-a");
    // Fourteen steady windows for both tenants, then T spikes (ten times its baseline).
    for (let i = 0; i < 14; i++) {
      await publish(win(T, i, (0.1 + (i % 3) * 0.005).toFixed(3)));
      await publish(win(U, i, (0.2 + (i % 3) * 0.01).toFixed(3)));
    }
    await publish(win(T, 14, "1.0"));
    await waitFor("T's spike alerted", async () => (spikes(T).length ? true : undefined), 60_000);
    await settled();
    expect(spikes(T)).toHaveLength(1);
    expect(spikes(U)).toHaveLength(0);

    // A is gone as a crash looks to NATS: its connection closes without giving anything back.
    await a.nc.close();
    const b = await detector("det-b");
    // T goes on spiking (within the cooldown: no new alert); U spikes for the first time.
    await publish(win(T, 15, "1.0"));
    await publish(win(U, 14, "2.0"));
    await waitFor("U's spike alerted by the new owner", async () => (spikes(U).length ? true : undefined), 60_000);
    await settled();
    expect(spikes(U)).toHaveLength(1);
    expect(spikes(T), "T's spike alerted again after the takeover").toHaveLength(1);

    b.abort.abort();
    a.abort.abort();
    await Promise.allSettled([...a.stages, ...b.stages].map((s) => s.done));
    await b.nc.close();
  }, 240_000);
});
