// The rollup repair against the real (embedded) ClickHouse: rollup rows a
// crash cut off (the ledger's part written, the views' not) are put back
// exactly, for every rollup, and a second pass adds nothing.
import { mkdtempSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openClickHouse, queryRows, type Ledgerbase } from "../../pipeline/clickhouse/client.ts";
import { migrate } from "../../pipeline/clickhouse/migrate.ts";
import { createLedgerStore } from "../../pipeline/ledger/ledger-store.ts";
import { repairRollups, rollupSpecs } from "../../pipeline/ledger/rollup-repair.ts";
import { compareRollups } from "../helpers/rollups.ts";
import { createLogger } from "../../pipeline/observability/log.ts";
import { partitionOf, partitionSql } from "../../pipeline/nats/partition.ts";
import type { PricedEvent } from "../../schemas/index.ts";

let db: Ledgerbase;
const home = mkdtempSync(path.join(os.tmpdir(), "costline-repair-"));

beforeAll(async () => {
  db = await openClickHouse({ dataDir: path.join(home, "clickhouse") } as Parameters<typeof openClickHouse>[0]);
  await migrate(db.client);
});
afterAll(async () => db?.close());

function priced(i: number): PricedEvent {
  return {
    event_id: `r-${i}`,
    source: "test/repair",
    type: "costline.llm.usage",
    kind: "llm",
    time: new Date(Date.UTC(2026, 10, 22, 10, 0, 0) + i * 7_000).toISOString(),
    tenant: i % 2 ? "acme" : "globex",
    post_id: `p-${i % 5}`,
    persona_id: `persona-${i % 3}`,
    user_id: `u-${i % 4}`,
    feature: "hooks",
    operation: "chat",
    provider: "openai",
    model: i % 3 ? "gpt-4o" : "gpt-4o-mini",
    model_requested: "gpt-4o",
    category: "",
    usage: { input_tokens: 100 + i, output_tokens: 10 + i },
    batch: false,
    cost_usd: `0.${String(1000 + i).padStart(6, "0")}`,
    revenue_usd: "0",
    priced: true,
    price_source: "genai-prices",
    price_version: "t",
    components: [],
    attribution_method: "direct",
    enriched_at: "2026-11-22T10:00:00.100Z",
  };
}

/** Each rollup's totals next to the same aggregation over the ledger, as text to compare. */
async function compare() {
  const out: Record<string, { ledger: string; rollup: string }> = {};
  for (const c of await compareRollups(db.client)) out[c.table] = { ledger: JSON.stringify(c.ledger), rollup: JSON.stringify(c.rollup) };
  return out;
}

describe("rollup repair", () => {
  it("puts back the rollup rows a crash cut off, exactly, and only once", async () => {
    const store = createLedgerStore(db.client, 400);
    await store.insert(Array.from({ length: 300 }, (_, i) => priced(i)));
    const log = createLogger("silent");
    expect(await repairRollups(db.client, log)).toEqual({}); // nothing missing
    const before = await compare();
    for (const v of Object.values(before)) expect(v.rollup).toBe(v.ledger);

    // A crash after the ledger's part, before the views' parts: the last batch is in the ledger only.
    for (const spec of rollupSpecs) await db.client.command({ query: `DETACH TABLE costline.${spec.table}_mv` });
    await store.insert(Array.from({ length: 120 }, (_, i) => priced(300 + i)));
    for (const spec of rollupSpecs) await db.client.command({ query: `ATTACH TABLE costline.${spec.table}_mv` });
    const cut = await compare();
    for (const v of Object.values(cut)) expect(v.rollup).not.toBe(v.ledger);

    const repaired = await repairRollups(db.client, log);
    expect(Object.keys(repaired).sort()).toEqual(rollupSpecs.map((s) => s.table).sort());
    const after = await compare();
    for (const [table, v] of Object.entries(after)) expect({ table, totals: v.rollup }).toEqual({ table, totals: v.ledger });
    // Post first/last times come back too.
    const [post] = await queryRows<{ last: string }>(db.client, "SELECT toString(max(last_time)) AS last FROM costline.ledger_post");
    expect(post!.last).toBe("2026-11-22 10:48:53.000"); // event 419: 10:00 + 419 × 7 s
    expect(await repairRollups(db.client, log)).toEqual({});
  });

  it("computes a tenant's partition in SQL exactly as the pipeline does", async () => {
    const names = ["acme", "globex", "initech", "umbrella corp/é", "", "日本", "a.b>c*"];
    for (const n of [2, 3, 8, 1024]) {
      const rows = await queryRows<{ t: string; p: number | string }>(
        db.client,
        `SELECT t, ${partitionSql("t", n)} AS p FROM (SELECT arrayJoin({names:Array(String)}) AS t)`,
        { names },
      );
      expect(Object.fromEntries(rows.map((r) => [r.t, Number(r.p)]))).toEqual(Object.fromEntries(names.map((t) => [t, partitionOf(t, n)])));
    }
  });

  it("repairs one partition's tenants only: what another partition's owner may be writing is left alone", async () => {
    const log = createLogger("silent");
    const store = createLedgerStore(db.client, 400);
    const acme = partitionOf("acme", 2);
    expect(partitionOf("globex", 2)).not.toBe(acme); // the two tenants of these events are in different partitions
    for (const spec of rollupSpecs) await db.client.command({ query: `DETACH TABLE costline.${spec.table}_mv` });
    await store.insert(Array.from({ length: 60 }, (_, i) => ({ ...priced(500 + i), event_id: `q-${i}` })));
    for (const spec of rollupSpecs) await db.client.command({ query: `ATTACH TABLE costline.${spec.table}_mv` });

    const eventsOf = async (table: string, tenant: string) =>
      Number(
        (
          await queryRows<{ n: string }>(
            db.client,
            `SELECT toString(sum(events)) AS n FROM costline.${table} WHERE tenant = {tenant:String}`,
            { tenant },
          )
        )[0]!.n,
      );
    const ledgerOf = async (tenant: string) =>
      Number(
        (
          await queryRows<{ n: string }>(
            db.client,
            "SELECT toString(count()) AS n FROM costline.ledger FINAL WHERE tenant = {tenant:String}",
            { tenant },
          )
        )[0]!.n,
      );

    await repairRollups(db.client, log, 300, { partition: acme, partitions: 2 });
    expect(await eventsOf("ledger_minute", "acme")).toBe(await ledgerOf("acme"));
    expect(await eventsOf("ledger_minute", "globex")).toBe((await ledgerOf("globex")) - 30); // untouched
    await repairRollups(db.client, log, 300, { partition: 1 - acme, partitions: 2 });
    const after = await compare();
    for (const [table, v] of Object.entries(after)) expect({ table, totals: v.rollup }).toEqual({ table, totals: v.ledger });
  });
});
