// The ledger exact with several writers: two ledger-sink instances (each on
// its own NATS connection, both on one real ClickHouse, as two processes on a
// server would be) share the partitions of the priced subjects through leases.
// Priced messages arrive with a tenth of their events sent again in other
// messages; the second instance joins mid-run (a rebalance), and then the
// first is cut off from NATS while it holds messages (they come back to the
// second after the ack wait: redeliveries of events that may already be
// stored). The ledger holds each event once — not merely under FINAL: no
// duplicate row was inserted — and every rollup equals the ledger.
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Decimal } from "decimal.js";
import { jetstream, jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import { openClickHouse, queryRows, type Ledgerbase } from "../../pipeline/clickhouse/client.ts";
import { migrate } from "../../pipeline/clickhouse/migrate.ts";
import { loadConfig } from "../../pipeline/config/config.ts";
import { parsePriced } from "../../pipeline/ledger/priced-decoder.ts";
import { startEmbeddedNats, type EmbeddedNats } from "../../pipeline/nats/embedded-server.ts";
import { createSubjects, streamNames } from "../../pipeline/nats/subjects.ts";
import { applyTopology, partitionDurable } from "../../pipeline/nats/topology.ts";
import { createLogger } from "../../pipeline/observability/log.ts";
import { createMetrics } from "../../pipeline/observability/metrics.ts";
import type { RunningStage } from "../../pipeline/runner/consumer-runner.ts";
import { expectRollupsMatchLedger } from "../helpers/rollups.ts";
import { stageRegistry } from "../../pipeline/stack/stage-registry.ts";
import type { PricedEvent } from "../../schemas/index.ts";
import { tempHome, waitFor } from "../helpers/stack-process.ts";

const home = tempHome("costline-ledger-writers-");
const TENANTS = ["acme", "globex", "initech", "umbrella", "hooli", "stark"];
const settings = {
  COSTLINE_HOME: home,
  COSTLINE_PARTITIONS: "4",
  COSTLINE_LEASE_TTL_MS: "2000",
  COSTLINE_ACK_WAIT_S: "5",
  COSTLINE_LEDGER_FLUSH_MS: "20",
};
let server: EmbeddedNats;
let db: Ledgerbase;
let admin: NatsConnection;
let jsm: JetStreamManager;

beforeAll(async () => {
  server = await startEmbeddedNats({ bin: "nats-server", storeDir: path.join(home, "nats"), logFile: path.join(home, "nats.log") });
  admin = await connect({ servers: server.url });
  jsm = await jetstreamManager(admin);
  await applyTopology(admin, jsm, loadConfig(settings));
  db = await openClickHouse({ dataDir: path.join(home, "clickhouse") } as Parameters<typeof openClickHouse>[0]);
  await migrate(db.client);
});
afterAll(async () => {
  await admin?.close();
  await db?.close();
  await server?.stop();
});

async function sink(name: string): Promise<{ nc: NatsConnection; abort: AbortController; loops: RunningStage[] }> {
  const config = loadConfig({ ...settings, COSTLINE_INSTANCE_ID: name });
  const nc = await connect({ servers: server.url, reconnect: false });
  const abort = new AbortController();
  const loops = await stageRegistry.ledger({
    config,
    instance: { id: name, takeOverFrom: [] },
    nc,
    js: jetstream(nc),
    subjects: createSubjects("costline", 4),
    clickhouse: db.client,
    metrics: createMetrics(config.metrics),
    decodePriced: parsePriced,
    log: createLogger(process.env.TEST_LOG ?? "silent"),
    signal: abort.signal,
  });
  return { nc, abort, loops };
}

function priced(i: number, tenant: string): PricedEvent {
  return {
    event_id: `w-${i}`,
    source: "test/ledger-writers",
    type: "costline.llm.usage",
    kind: "llm",
    time: new Date(Date.UTC(2026, 10, 22, 10, 0, 0) + i * 250).toISOString(),
    tenant,
    post_id: `p-${i % 7}`,
    persona_id: `persona-${i % 3}`,
    user_id: `u-${i % 5}`,
    feature: "hooks",
    operation: "chat",
    provider: "openai",
    model: i % 3 ? "gpt-4o" : "gpt-4o-mini",
    model_requested: "gpt-4o",
    category: "",
    usage: { input_tokens: 100 + i, output_tokens: 10 + i },
    batch: false,
    cost_usd: `0.${String(1000 + (i % 9000)).padStart(6, "0")}37`,
    revenue_usd: "0",
    priced: true,
    price_source: "genai-prices",
    price_version: "t",
    components: [],
    attribution_method: "direct",
    enriched_at: "2026-11-22T10:00:00.100Z",
  };
}

describe("ledger sink with several writers", () => {
  it("stores each event once, and every rollup equals the ledger, across a rebalance, a cut-off writer and redeliveries", async () => {
    const js = jetstream(admin);
    const subjects = createSubjects("costline", 4);
    const expected = new Map<string, { events: number; cost: Decimal }>();
    const sent: PricedEvent[] = [];
    let n = 0;
    /** Messages of 1–5 events; every tenth message also carries events sent before (in another grouping). */
    async function publish(messages: number) {
      for (let m = 0; m < messages; m++) {
        const tenant = TENANTS[n % TENANTS.length]!;
        const batch: PricedEvent[] = [];
        for (let k = 0; k < 1 + (n % 5); k++) {
          const e = priced(n * 10 + k, tenant);
          batch.push(e);
          sent.push(e);
          const x = expected.get(tenant) ?? { events: 0, cost: new Decimal(0) };
          expected.set(tenant, { events: x.events + 1, cost: x.cost.plus(e.cost_usd!) });
        }
        if (n % 10 === 9) batch.push(...sent.filter((e) => e.tenant === tenant).slice(-8, -3));
        await js.publish(subjects.priced(tenant), JSON.stringify(batch), { msgID: `lw-${n}` });
        n++;
      }
    }

    const a = await sink("sink-a");
    await publish(300);
    const b = await sink("sink-b");
    await publish(300);
    // a is cut off from NATS with messages in hand; b takes its partitions when the leases lapse.
    await sleep(50);
    await a.nc.close();
    await publish(300);
    // Redeliveries beyond JetStream's window: the same events again, regrouped.
    for (const tenant of TENANTS) {
      const again = sent.filter((e) => e.tenant === tenant).slice(0, 40);
      await js.publish(subjects.priced(tenant), JSON.stringify(again), { msgID: `again-${tenant}` });
    }

    const total = [...expected.values()].reduce((s, x) => s + x.events, 0);
    await waitFor(
      "every ledger partition drained, every event stored",
      async () => {
        for (let p = 0; p < 4; p++) {
          const i = await jsm.consumers.info(streamNames.priced, partitionDurable("ledger", p));
          if (i.num_pending + i.num_ack_pending > 0) return undefined;
        }
        const [r] = await queryRows<{ n: string }>(db.client, "SELECT toString(count()) AS n FROM costline.ledger FINAL");
        return Number(r!.n) === total ? true : undefined;
      },
      120_000,
    ).catch(async (err) => {
      const infos = [];
      for (let p = 0; p < 4; p++) {
        const i = await jsm.consumers.info(streamNames.priced, partitionDurable("ledger", p));
        infos.push({ p, pending: i.num_pending, ack: i.num_ack_pending, redelivered: i.num_redelivered });
      }
      const [r] = await queryRows<{ n: string }>(db.client, "SELECT toString(count()) AS n FROM costline.ledger FINAL");
      throw new Error(`${(err as Error).message}: ${JSON.stringify(infos)} ledger ${r!.n} of ${total}`);
    });

    const rows = await queryRows<{ tenant: string; n: string; raw: string; cost: string }>(
      db.client,
      `SELECT tenant, toString(uniqExact(source, event_id)) AS n, toString(count()) AS raw, toString(sum(cost_usd)) AS cost
       FROM costline.ledger GROUP BY tenant ORDER BY tenant`, // ORDER BY: a stable comparison
    );
    for (const r of rows) {
      const x = expected.get(r.tenant)!;
      expect({ tenant: r.tenant, events: Number(r.n), rows: Number(r.raw), cost: new Decimal(r.cost).toFixed(12) }).toEqual({
        tenant: r.tenant,
        events: x.events,
        rows: x.events, // no duplicate row reached the ledger, so no materialized view counted one
        cost: x.cost.toFixed(12),
      });
    }
    expect(rows.map((r) => r.tenant).sort()).toEqual([...TENANTS].sort());
    await expectRollupsMatchLedger(db.client);

    b.abort.abort();
    await Promise.all(b.loops.map((l) => l.done));
    await b.nc.close();
    a.abort.abort();
  }, 240_000);
});
