// The allocator with several instances: each splits only the tenants of the
// partitions it holds a lease on, so no shared cost is ever split twice (two
// splits, each summing to the cost, would double it in every post report);
// a partition it acquires later has its older unallocated costs found again;
// and, run through the stage registry, two instances sharing a real NATS
// lease bucket split every tenant's costs exactly once between them.
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import { setTimeout as sleep } from "node:timers/promises";
import { openClickHouse, queryRows, type Ledgerbase } from "../../pipeline/clickhouse/client.ts";
import { migrate } from "../../pipeline/clickhouse/migrate.ts";
import { loadConfig, type Config } from "../../pipeline/config/config.ts";
import { createAllocator } from "../../pipeline/allocation/allocator.ts";
import { createLedgerStore } from "../../pipeline/ledger/ledger-store.ts";
import { createPricedDecoder } from "../../pipeline/ledger/priced-decoder.ts";
import { startEmbeddedNats, type EmbeddedNats } from "../../pipeline/nats/embedded-server.ts";
import { partitionOf } from "../../pipeline/nats/partition.ts";
import { createSubjects } from "../../pipeline/nats/subjects.ts";
import { applyTopology } from "../../pipeline/nats/topology.ts";
import { createLogger } from "../../pipeline/observability/log.ts";
import { createMetrics } from "../../pipeline/observability/metrics.ts";
import { Decimal } from "../../pipeline/pricing/decimal.ts";
import { createEventPricer } from "../../pipeline/pricing/price-event.ts";
import { stageRegistry } from "../../pipeline/stack/stage-registry.ts";
import { costlineEvent } from "../../schemas/index.ts";
import { tempHome, waitFor } from "../helpers/stack-process.ts";

const PARTITIONS = 2;
const home = tempHome("costline-alloc-owners-");
const settings = {
  COSTLINE_HOME: home,
  COSTLINE_PARTITIONS: String(PARTITIONS),
  COSTLINE_ALLOCATION_WINDOW_S: "3600",
  COSTLINE_ALLOWED_LATENESS_S: "60",
  COSTLINE_ALLOCATION_INTERVAL_S: "1",
  COSTLINE_LEASE_TTL_MS: "3000",
};
let config: Config;
let db: Ledgerbase;
let server: EmbeddedNats;
const log = createLogger("silent");
// Two tenants per partition, found by the partition hash itself.
const tenants: string[] = [];
for (let i = 0; tenants.length < 4; i++) {
  const t = `own-${i}`;
  if (tenants.filter((x) => partitionOf(x, PARTITIONS) === partitionOf(t, PARTITIONS)).length < 2) tenants.push(t);
}
const inPartition = (p: number) => tenants.filter((t) => partitionOf(t, PARTITIONS) === p);
// A closed window: two days ago, 10:00–11:00 UTC.
const WINDOW = Math.floor((Date.now() - 2 * 86_400_000) / 86_400_000) * 86_400_000 + 10 * 3_600_000;

/** One LLM call on each of two posts (the drivers) and `shared` infra costs naming no post, for `tenant`. */
async function seed(tenant: string, tag: string, shared: number): Promise<void> {
  const toPriced = createEventPricer(config);
  const at = (min: number) => new Date(WINDOW + min * 60_000);
  const base = { specversion: "1.0", source: "test/owners" };
  const events = [
    ...["p-1", "p-2"].map((post, i) => ({
      ...base,
      id: `${tag}-${tenant}-llm-${post}`,
      type: "costline.llm.usage",
      time: at(5 + i).toISOString(),
      data: {
        tenant,
        post_id: post,
        provider: "openai",
        model: "gpt-4o-mini",
        usage: { input_tokens: 1000 * (i + 1), output_tokens: 100 },
      },
    })),
    ...Array.from({ length: shared }, (_, k) => ({
      ...base,
      id: `${tag}-${tenant}-infra-${k}`,
      type: "costline.infra.usage",
      time: at(20 + k).toISOString(),
      data: { tenant, resource: "cpu", quantity: 100 + k, unit: "core_second", service: "api" },
    })),
  ].map((e) => toPriced(costlineEvent.parse(e), at(30)));
  await createLedgerStore(db.client, 30).insert(events);
}

/** Per shared event of these tenants: the sum of its allocated amounts, against its cost. */
async function splits(of: string[]): Promise<{ event: string; cost: string; allocated: string | null }[]> {
  return queryRows(
    db.client,
    `SELECT l.event_id AS event, toString(l.cost_usd) AS cost, if(a.n = 0, NULL, toString(a.allocated)) AS allocated
     FROM (SELECT event_id, cost_usd FROM costline.ledger FINAL WHERE tenant IN {of:Array(String)} AND kind = 'infra') AS l
     LEFT JOIN (
       SELECT source_event_id, sum(amount_usd) AS allocated, count() AS n FROM costline.cost_allocations FINAL
       WHERE tenant IN {of:Array(String)} GROUP BY source_event_id
     ) AS a ON a.source_event_id = l.event_id
     ORDER BY event`,
    { of },
  );
}

beforeAll(async () => {
  config = loadConfig(settings);
  db = await openClickHouse({ ...config.clickhouse, url: undefined, dataDir: path.join(home, "clickhouse") });
  await migrate(db.client);
  server = await startEmbeddedNats({ bin: "nats-server", storeDir: path.join(home, "nats"), logFile: path.join(home, "nats.log") });
}, 120_000);
afterAll(async () => {
  await server?.stop();
  await db?.close();
});

describe("the allocator with several instances", () => {
  it("splits only the tenants it owns, and finds a newly held partition's older costs", async () => {
    const [mine, later] = [inPartition(0)[0]!, inPartition(1)[0]!];
    await seed(later, "a", 3);
    // More than the pass's look-back (5 s) later: a pass over `mine` alone moves its start past `later`'s costs.
    await sleep(6000);
    await seed(mine, "a", 2);
    const held = new Set([0]);
    let generation = 0;
    const allocator = createAllocator({
      client: db.client,
      config: config.allocation,
      log,
      ownership: {
        partitions: PARTITIONS,
        owned: () => [...held],
        holds: (t) => held.has(partitionOf(t, PARTITIONS)),
        generation: () => generation,
      },
    });
    expect(await allocator.pass()).toBe(2);
    expect((await splits([later])).every((s) => s.allocated === null)).toBe(true);
    expect(await allocator.pass()).toBe(0); // nothing new for partition 0
    held.add(1);
    generation++;
    expect(await allocator.pass()).toBe(3);
    for (const s of await splits([mine, later])) expect(new Decimal(s.allocated ?? "-1").eq(s.cost), s.event).toBe(true);
  });

  it("two instances on one lease bucket split every tenant's costs exactly once between them", async () => {
    const nc: NatsConnection = await connect({ servers: server.url });
    await applyTopology(nc, await jetstreamManager(nc), config);
    for (const t of tenants) await seed(t, "b", 2);
    const instances = await Promise.all(
      ["alloc-a", "alloc-b"].map(async (id) => {
        const inc = await connect({ servers: server.url });
        const abort = new AbortController();
        const stages = await stageRegistry.allocator({
          config,
          instance: { id, takeOverFrom: [] },
          nc: inc,
          js: jetstream(inc),
          subjects: createSubjects("costline", PARTITIONS),
          clickhouse: db.client,
          metrics: createMetrics(config.metrics),
          decodePriced: createPricedDecoder(0),
          log,
          signal: abort.signal,
        });
        return { inc, abort, stages };
      }),
    );
    try {
      await waitFor(
        "every tenant's shared costs allocated",
        async () => ((await splits(tenants)).filter((s) => s.event.startsWith("b-")).every((s) => s.allocated !== null) ? true : undefined),
        60_000,
      );
      // Passes go on after the last split: a second split of any cost would show in its sum.
      await sleep(3000);
      const done = (await splits(tenants)).filter((s) => s.event.startsWith("b-"));
      expect(done).toHaveLength(tenants.length * 2);
      for (const s of done) expect(new Decimal(s.allocated!).eq(s.cost), `${s.event}: ${s.allocated} of ${s.cost}`).toBe(true);
    } finally {
      for (const i of instances) i.abort.abort();
      await Promise.all(instances.flatMap((i) => i.stages.map((s) => s.done.catch(() => undefined))));
      for (const i of instances) await i.inc.close();
      await nc.close();
    }
  });
});
