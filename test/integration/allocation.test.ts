// A generated month of mixed events in a real (embedded) ClickHouse: after
// allocation, the cost of every post (direct plus allocated) plus the
// unallocated bucket plus the unattributed cost equals the ledger total,
// exactly, per tenant — and the coverage report says the same.
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openClickHouse, queryRows, type Ledgerbase } from "../../pipeline/clickhouse/client.ts";
import { migrate } from "../../pipeline/clickhouse/migrate.ts";
import { loadConfig } from "../../pipeline/config/config.ts";
import { createAllocator } from "../../pipeline/allocation/allocator.ts";
import { createLedgerStore } from "../../pipeline/ledger/ledger-store.ts";
import { createLogger } from "../../pipeline/observability/log.ts";
import { Decimal } from "../../pipeline/pricing/decimal.ts";
import { createEventPricer } from "../../pipeline/pricing/price-event.ts";
import { ledgerTotals } from "../../pipeline/queries/totals.ts";
import { sqlFile } from "../../pipeline/queries/sql-files.ts";
import { postCosts } from "../../pipeline/api/routes-posts.ts";
import { demoEvent, seededRandom } from "../../pipeline/demo/traffic.ts";
import { costlineEvent, sharedCostKinds, type PricedEvent } from "../../schemas/index.ts";
import { tempHome } from "../helpers/stack-process.ts";

let db: Ledgerbase;
// Six-hour windows, not hourly: a pass asks for the drivers of each tenant's window once (120 windows
// a month instead of 720); how many windows there are is not what this proves. They start at 00, 06,
// 12 and 18 UTC, so the quiet nights below are whole windows.
const config = loadConfig({ COSTLINE_ALLOCATION_WINDOW_S: "21600", COSTLINE_ALLOWED_LATENESS_S: "600" });
const MONTH_START = Date.UTC(2026, 9, 1);
const tenants = ["acme", "globex", "initech", "umbrella"];
const POSTS = 40;

/** A month of traffic: demo events spread over 30 days, with quiet hours and some events that name no post. */
function month(): PricedEvent[] {
  const r = seededRandom(2026);
  const toPriced = createEventPricer(config);
  const events: PricedEvent[] = [];
  for (let i = 0; i < 12_000; i++) {
    const at = new Date(MONTH_START + Math.floor(r() * 30 * 86_400_000));
    // Nights (00:00–05:59 UTC) have no LLM traffic, so their shared costs cannot be allocated.
    const night = at.getUTCHours() < 6;
    let raw = demoEvent(r, at, "test/month");
    while (night && raw.type === "costline.llm.usage") raw = demoEvent(r, at, "test/month");
    const event = costlineEvent.parse(raw);
    if (event.type === "costline.llm.usage" && r() < 0.05) delete event.data.post_id; // unattributed LLM calls
    // POSTS posts per tenant, not the generator's 500: the check sums every post's costs (two queries
    // each), and how many posts there are is not what it proves (each post still mixes kinds and models).
    const data = event.data as { post_id?: string };
    if (data.post_id) data.post_id = `p-${Number(data.post_id.slice(2)) % POSTS}`;
    events.push(toPriced(event, at));
  }
  // Pre-priced costs with and without a post.
  for (let i = 0; i < 300; i++) {
    const tenant = tenants[i % 4]!;
    const at = new Date(MONTH_START + i * 8_640_000);
    const ev = costlineEvent.parse({
      specversion: "1.0",
      id: `cost-${i}`,
      source: "test/month",
      type: "costline.cost",
      time: at.toISOString(),
      data: {
        tenant,
        amount: `0.${String(i).padStart(3, "0")}7`,
        currency: "USD",
        category: "gpu",
        ...(i % 3 === 0 ? { post_id: `p-${i % POSTS}` } : {}),
      },
    });
    events.push(toPriced(ev, at));
  }
  return events;
}

beforeAll(async () => {
  db = await openClickHouse({ ...config.clickhouse, url: undefined, dataDir: path.join(tempHome("costline-alloc-"), "clickhouse") });
  await migrate(db.client);
  const store = createLedgerStore(db.client, 400);
  const events = month();
  for (let i = 0; i < events.length; i += 2000) await store.insert(events.slice(i, i + 2000));
}, 120_000);
afterAll(async () => db?.close());

describe("shared-cost allocation over a month", () => {
  it("allocates every shared cost once its window closed, and reconciles exactly per tenant", async () => {
    const allocator = createAllocator({
      client: db.client,
      config: config.allocation,
      log: createLogger("silent"),
      now: () => new Date(MONTH_START + 31 * 86_400_000),
    });
    const first = await allocator.pass();
    expect(first).toBeGreaterThan(1000);
    expect(await allocator.pass()).toBe(0); // nothing is allocated twice

    for (const tenant of tenants) {
      const total = new Decimal((await ledgerTotals(db.client, { tenant })).cost_usd);
      const posts = await queryRows<{ post_id: string }>(
        db.client,
        "SELECT DISTINCT post_id FROM (SELECT post_id FROM costline.ledger_post WHERE tenant = {t:String} UNION ALL SELECT post_id FROM costline.cost_allocations WHERE tenant = {t:String} AND post_id != '')",
        { t: tenant },
      );
      let overPosts = new Decimal(0);
      for (const { post_id } of posts) {
        const c = await postCosts(db.client, tenant, post_id);
        overPosts = overPosts.plus(c!.total_usd);
      }
      const [bucket] = await queryRows<{ unallocated: string; unattributed: string }>(
        db.client,
        `SELECT
           (SELECT toString(sum(amount_usd)) FROM costline.cost_allocations FINAL WHERE tenant = {t:String} AND post_id = '') AS unallocated,
           (SELECT toString(sum(ifNull(cost_usd, toDecimal128(0, 12)))) FROM costline.ledger FINAL
              WHERE tenant = {t:String} AND post_id = '' AND NOT has({shared:Array(String)}, kind)) AS unattributed`,
        { t: tenant, shared: sharedCostKinds },
      );
      const unallocated = new Decimal(bucket!.unallocated);
      const unattributed = new Decimal(bucket!.unattributed);
      expect(unallocated.gt(0)).toBe(true); // the quiet nights
      expect(unattributed.gt(0)).toBe(true);
      expect(overPosts.plus(unallocated).plus(unattributed).toFixed(), tenant).toBe(total.toFixed());

      const [coverage] = await queryRows<Record<string, string>>(db.client, sqlFile("tenant_coverage"), {
        tenant,
        from: "1970-01-01 00:00:00.000",
        to: "2299-01-01 00:00:00.000",
        shared_kinds: sharedCostKinds,
      });
      expect(coverage!.pending_usd).toBe("0");
      const parts = ["direct_usd", "allocated_usd", "unallocated_usd", "unattributed_usd"].reduce(
        (s, k) => s.plus(coverage![k]!),
        new Decimal(0),
      );
      expect(parts.toFixed()).toBe(new Decimal(coverage!.total_usd!).toFixed());
      expect(new Decimal(coverage!.total_usd!).toFixed()).toBe(total.toFixed());
    }
  });

  it("leaves shared costs of a window still open for later", async () => {
    const store = createLedgerStore(db.client, 400);
    const toPriced = createEventPricer(config);
    const now = new Date(MONTH_START + 40 * 86_400_000);
    const fresh = costlineEvent.parse({
      specversion: "1.0",
      id: "late-infra",
      source: "test/month",
      type: "costline.infra.usage",
      time: new Date(now.getTime() - 60_000).toISOString(),
      data: { tenant: "acme", resource: "cpu", quantity: 100, unit: "core_second", service: "x" },
    });
    await store.insert([toPriced(fresh, now)]);
    let clock = now;
    const allocator = createAllocator({ client: db.client, config: config.allocation, log: createLogger("silent"), now: () => clock });
    expect(await allocator.pass()).toBe(0); // its window (18:00–24:00) is not over yet
    // The window ends at `now`: it is closed once the allowed lateness has passed, and not before.
    const closesAt = now.getTime() + config.allocation.latenessS * 1000;
    clock = new Date(closesAt - 1000);
    expect(await allocator.pass()).toBe(0);
    clock = new Date(closesAt);
    expect(await allocator.pass()).toBe(1);
  });

  it("allocates two tenants' shared costs that share a source and an id, each once", async () => {
    const store = createLedgerStore(db.client, 400);
    const toPriced = createEventPricer(config);
    const at = new Date(MONTH_START + 50 * 86_400_000 + 12 * 3_600_000);
    const twin = (tenant: string) =>
      costlineEvent.parse({
        specversion: "1.0",
        id: "twin-infra",
        source: "test/twins",
        type: "costline.infra.usage",
        time: at.toISOString(),
        data: { tenant, resource: "cpu", quantity: 100, unit: "core_second", service: "x" },
      });
    const allocator = createAllocator({
      client: db.client,
      config: config.allocation,
      log: createLogger("silent"),
      now: () => new Date(at.getTime() + 86_400_000),
    });
    await store.insert([toPriced(twin("acme"), at)]);
    expect(await allocator.pass()).toBe(1);
    // The other tenant's event is not taken for the one already allocated.
    await store.insert([toPriced(twin("globex"), at)]);
    expect(await allocator.pass()).toBe(1);
    expect(await allocator.pass()).toBe(0);
    const rows = await queryRows<{ tenant: string; n: string; usd: string }>(
      db.client,
      "SELECT tenant, toString(count()) AS n, toString(sum(amount_usd)) AS usd FROM costline.cost_allocations FINAL WHERE source = 'test/twins' GROUP BY tenant ORDER BY tenant",
    );
    expect(rows.map((r) => r.tenant)).toEqual(["acme", "globex"]);
    expect(rows[0]!.usd).toBe(rows[1]!.usd);
  });
});
