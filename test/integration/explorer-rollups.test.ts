// The console explorer's reads against the real (embedded) ClickHouse: the
// hourly rollups by user and by post (0009) are filled exactly from a ledger
// that already held rows and then kept by their views; the explorer's
// top-groups and series queries read them, stay bounded, and add up to the
// ledger itself; the overview's totals from the rollup equal `costline totals`.
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { Decimal } from "decimal.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openClickHouse, queryRows, type Ledgerbase } from "../../pipeline/clickhouse/client.ts";
import { migrate, migrationsDir } from "../../pipeline/clickhouse/migrate.ts";
import { createLedgerStore } from "../../pipeline/ledger/ledger-store.ts";
import { costsQuerySchema } from "../../pipeline/queries/costs-query.ts";
import { exploreCosts, MAX_EXPLORER_BUCKETS } from "../../pipeline/queries/explorer-query.ts";
import { ledgerTotals } from "../../pipeline/queries/totals.ts";
import { consoleTotals } from "../../pipeline/console/console-data.ts";
import { PermanentError } from "../../pipeline/errors.ts";
import type { PricedEvent } from "../../schemas/index.ts";
import { expectRollupsMatchLedger } from "../helpers/rollups.ts";

let db: Ledgerbase;
const home = mkdtempSync(path.join(os.tmpdir(), "costline-explorer-"));
const T0 = Date.UTC(2026, 10, 22, 0, 0, 0);
const ROLLUPS = "0009_user_post_rollups.sql";

function priced(i: number, tenant = i % 3 ? "acme" : "globex"): PricedEvent {
  return {
    event_id: `x-${i}`,
    source: "test/explorer",
    type: "costline.llm.usage",
    kind: i % 7 === 0 ? "infra" : "llm",
    // Spread over two days, several events per hour.
    time: new Date(T0 + i * 97_000).toISOString(),
    tenant,
    post_id: i % 11 === 0 ? "" : `p-${i % 40}`,
    persona_id: `persona-${i % 4}`,
    user_id: `u-${i % 23}`,
    feature: i % 2 ? "hooks" : "replies",
    operation: "chat",
    provider: "openai",
    model: i % 3 ? "gpt-4o" : "gpt-4o-mini",
    model_requested: "gpt-4o",
    category: "",
    usage: { input_tokens: 100 + i, output_tokens: 10 + i },
    batch: false,
    // Unpriced now and then: stored with cost unknown, counted as unpriced.
    cost_usd: i % 13 === 0 ? null : `0.${String(100_000 + i * 37).padStart(9, "0")}`,
    revenue_usd: "0",
    priced: i % 13 !== 0,
    price_source: "genai-prices",
    price_version: "t",
    components: [],
    attribution_method: "direct",
    enriched_at: "2026-11-22T10:00:00.100Z",
  } as PricedEvent;
}

/** The rollup's sums per group next to the same aggregation over the ledger. */
async function rollupMatchesLedger(table: string): Promise<void> {
  const [c] = await expectRollupsMatchLedger(db.client, { tables: [table], byGroup: true });
  expect(c!.rollup.length).toBeGreaterThan(10);
}

beforeAll(async () => {
  db = await openClickHouse({ dataDir: path.join(home, "clickhouse") } as Parameters<typeof openClickHouse>[0]);
  // A ledger from before the rollups: every other migration, and rows in it.
  const before = path.join(home, "migrations-before");
  mkdirSync(before);
  for (const f of readdirSync(migrationsDir).filter((f) => f.endsWith(".sql") && f !== ROLLUPS))
    copyFileSync(path.join(migrationsDir, f), path.join(before, f));
  await migrate(db.client, before);
  await createLedgerStore(db.client, 400).insert(Array.from({ length: 1500 }, (_, i) => priced(i)));
});
afterAll(async () => db?.close());

const q = (o: Record<string, unknown>) =>
  costsQuerySchema.parse({ from: "2026-11-21T00:00:00Z", to: "2026-11-25T00:00:00Z", granularity: "hour", ...o });

describe("hourly rollups by user and by post", () => {
  it("are filled exactly from the rows already in the ledger, then kept exact by their views", async () => {
    expect(await migrate(db.client)).toEqual([ROLLUPS]);
    await rollupMatchesLedger("ledger_hour_user");
    await rollupMatchesLedger("ledger_hour_post");
    // Rows inserted after the migration reach the rollups through the views.
    await createLedgerStore(db.client, 400).insert(Array.from({ length: 400 }, (_, i) => priced(1500 + i)));
    await rollupMatchesLedger("ledger_hour_user");
    await rollupMatchesLedger("ledger_hour_post");
  });
});

describe("the explorer's reads", () => {
  it("group by user and by post from their rollups, every group's cost adding up to the ledger's", async () => {
    const [ledger] = await queryRows<{ cost: string; events: string }>(
      db.client,
      "SELECT toString(sum(ifNull(cost_usd, toDecimal128(0, 12)))) AS cost, count() AS events FROM costline.ledger FINAL WHERE tenant = 'acme'",
    );
    for (const [key, table, groups] of [
      ["user_id", "costline.ledger_hour_user", 23],
      ["post_id", "costline.ledger_hour_post", 41], // p-0 … p-39 and the shared-cost "" group
      ["persona_id", "costline.ledger_hour", 4],
      ["model", "costline.ledger_hour", 1],
    ] as const) {
      const r = await exploreCosts(db.client, q({ group_by: key, granularity: "day" }), "acme");
      expect({ key, source: r.source }).toEqual({ key, source: table });
      expect(r.groupCount).toBe(groups);
      expect(new Decimal(r.total.cost_usd).equals(ledger!.cost)).toBe(true);
      expect(r.total.events).toBe(Number(ledger!.events));
      expect(r.groups.reduce((s, g) => s.plus(g.cost_usd), new Decimal(0)).equals(ledger!.cost)).toBe(true);
      // Largest first.
      const costs = r.groups.map((g) => new Decimal(g.cost_usd));
      for (let i = 1; i < costs.length; i++) expect(costs[i - 1]!.gte(costs[i]!)).toBe(true);
      // The series (charted groups plus "other") holds the same money per bucket as the ledger.
      const perBucket = await queryRows<{ b: string; cost: string }>(
        db.client,
        `SELECT toString(toStartOfDay(time)) AS b, toString(sum(ifNull(cost_usd, toDecimal128(0, 12)))) AS cost
         FROM costline.ledger FINAL WHERE tenant = 'acme' GROUP BY b ORDER BY b`,
      );
      const series = new Map<string, Decimal>();
      for (const p of r.series) series.set(p.bucket, (series.get(p.bucket) ?? new Decimal(0)).plus(p.cost_usd));
      expect([...series].map(([b, c]) => ({ b, cost: c.toFixed() }))).toEqual(
        perBucket.map((x) => ({ b: x.b, cost: new Decimal(x.cost).toFixed() })),
      );
    }
  });

  it("list at most the groups asked for and fold every group past the charted ones into other, exactly", async () => {
    const r = await exploreCosts(db.client, q({ group_by: "post_id" }), "acme", { maxGroups: 5, maxSeries: 3 });
    expect(r.groupCount).toBe(41);
    expect(r.groups).toHaveLength(5);
    const charted = new Set(r.groups.slice(0, 3).map((g) => g.group));
    const named = r.series.filter((p) => !p.other);
    expect(new Set(named.map((p) => p.group))).toEqual(charted);
    expect(r.series.some((p) => p.other)).toBe(true);
    const sum = (ps: typeof r.series) => ps.reduce((s, p) => s.plus(p.cost_usd), new Decimal(0));
    const chartedCost = r.groups.slice(0, 3).reduce((s, g) => s.plus(g.cost_usd), new Decimal(0));
    expect(sum(named).equals(chartedCost)).toBe(true);
    expect(sum(r.series).equals(r.total.cost_usd)).toBe(true);
  });

  it("filter within a group-by, falling back to the ledger where no rollup holds both keys", async () => {
    const [u3] = await queryRows<{ cost: string }>(
      db.client,
      "SELECT toString(sum(ifNull(cost_usd, toDecimal128(0, 12)))) AS cost FROM costline.ledger FINAL WHERE tenant = 'acme' AND user_id = 'u-3'",
    );
    const byPersona = await exploreCosts(db.client, q({ group_by: "persona_id", filter: "user_id:u-3" }), "acme");
    expect(byPersona.source).toBe("costline.ledger_hour_user");
    expect(new Decimal(byPersona.total.cost_usd).equals(u3!.cost)).toBe(true);
    const byPost = await exploreCosts(db.client, q({ group_by: "post_id", filter: "user_id:u-3" }), "acme");
    expect(byPost.source).toBe("costline.ledger");
    expect(new Decimal(byPost.total.cost_usd).equals(u3!.cost)).toBe(true);
    // Another tenant's scope sees none of it.
    const other = await exploreCosts(db.client, q({ group_by: "user_id", filter: "tenant:acme" }), "globex");
    expect(other.groups).toEqual([]);
    expect(other.series).toEqual([]);
  });

  it("refuses a chart of more buckets than it holds, and more than one group-by", async () => {
    const long = q({ from: "2026-01-01T00:00:00Z", to: "2026-11-25T00:00:00Z", granularity: "minute" });
    await expect(exploreCosts(db.client, long, "acme")).rejects.toThrow(PermanentError);
    await expect(exploreCosts(db.client, long, "acme")).rejects.toThrow(String(MAX_EXPLORER_BUCKETS));
    await expect(exploreCosts(db.client, q({ group_by: "user_id,model" }), "acme")).rejects.toThrow(/one key/);
  });
});

describe("the overview's all-time totals", () => {
  it("from the hourly rollup equal `costline totals` (the ledger with FINAL), per tenant and for every tenant", async () => {
    for (const tenant of ["acme", "globex", undefined]) {
      const exact = await ledgerTotals(db.client, { tenant });
      expect(exact.unpriced_events).toBeGreaterThan(0);
      const fast = await consoleTotals(db.client, tenant);
      expect({ ...fast, cost_usd: new Decimal(fast.cost_usd).toFixed() }).toEqual({
        ...exact,
        cost_usd: new Decimal(exact.cost_usd).toFixed(),
      });
    }
  });
});
