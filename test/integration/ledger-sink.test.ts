// The ledger sink's idempotence against a real (embedded) ClickHouse: a
// redelivered message, a message repeated inside a batch and a retried insert
// never count twice, in the ledger or in the minute rollup; migrations are
// applied once and a changed applied file is refused.
import { cpSync, mkdtempSync, appendFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import type { JsMsg } from "@nats-io/jetstream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openClickHouse, queryRows, type Ledgerbase } from "../../pipeline/clickhouse/client.ts";
import { loadMigrations, migrate, migrationsDir, MigrationError } from "../../pipeline/clickhouse/migrate.ts";
import { createLedgerHandler } from "../../pipeline/ledger/ledger-stage.ts";
import { parsePriced } from "../../pipeline/ledger/priced-decoder.ts";
import type { Delivery } from "../../pipeline/runner/decoder.ts";
import { createLedgerStore } from "../../pipeline/ledger/ledger-store.ts";
import { createLogger } from "../../pipeline/observability/log.ts";
import { createMetrics } from "../../pipeline/observability/metrics.ts";
import { ledgerTotals } from "../../pipeline/queries/totals.ts";
import type { PricedEvent } from "../../schemas/index.ts";
import { pricedCost } from "../helpers/events.ts";

let db: Ledgerbase;
const home = mkdtempSync(path.join(os.tmpdir(), "costline-ledger-"));

beforeAll(async () => {
  db = await openClickHouse({ dataDir: path.join(home, "clickhouse") } as Parameters<typeof openClickHouse>[0]);
});
afterAll(async () => db?.close());

function priced(id: string, cost: string | null, tenant = "acme"): PricedEvent {
  return pricedCost({ id, tenant, cost, source: "test/ledger", time: "2026-11-22T10:00:00.000Z", enrichedAt: "2026-11-22T10:00:00.100Z" });
}

/** A message as the runner hands it over, decoded by the priced decoder the runner runs it through. */
function message(events: PricedEvent[] | unknown): Delivery<PricedEvent[]> {
  const data = new TextEncoder().encode(JSON.stringify(events));
  const msg = { data, json: () => JSON.parse(new TextDecoder().decode(data)) } as unknown as JsMsg;
  return { msg, value: parsePriced(msg) };
}

async function rollup(): Promise<{ events: number; cost: string }> {
  const [r] = await queryRows<{ e: string; c: string }>(
    db.client,
    "SELECT sum(events) AS e, toString(sum(cost_usd)) AS c FROM costline.ledger_minute WHERE tenant = 'acme'",
  );
  return { events: Number(r?.e ?? 0), cost: r?.c ?? "0" };
}

describe("migrations", () => {
  it("apply once, then are a no-op", async () => {
    const all = loadMigrations().map((m) => m.name);
    expect(all.slice(0, 3)).toEqual(["0001_ledger.sql", "0002_alerts.sql", "0003_alerts_insert_dedup.sql"]);
    expect(await migrate(db.client)).toEqual(all);
    expect(await migrate(db.client)).toEqual([]);
  });

  it("refuse an applied migration whose text changed", async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "costline-migrations-"));
    cpSync(migrationsDir, dir, { recursive: true });
    appendFileSync(path.join(dir, "0002_alerts.sql"), "\n-- edited after the fact\n");
    await expect(migrate(db.client, dir)).rejects.toThrow(MigrationError);
    await expect(migrate(db.client, dir)).rejects.toThrow(/0002_alerts.sql was changed after it was applied/);
  });
});

describe("ledger sink", () => {
  const metrics = createMetrics();
  const handler = () => createLedgerHandler({ store: createLedgerStore(db.client, 400), metrics, log: createLogger("silent") });

  it("inserts a batch and acknowledges every message", async () => {
    const out = await handler()([message([priced("e1", "1.000001"), priced("e2", "2")]), message([priced("e3", null)])]);
    expect(out.map((o) => o.kind)).toEqual(["done", "done"]);
    expect(await ledgerTotals(db.client, { tenant: "acme" })).toEqual({ events: 3, cost_usd: "3.000001", unpriced_events: 1 });
  });

  it("does not count a redelivered message again (crash between insert and ack)", async () => {
    // e3 comes back in a different batch, next to a new event.
    const out = await handler()([message([priced("e3", null)]), message([priced("e4", "0.5")])]);
    expect(out.map((o) => o.kind)).toEqual(["done", "done"]);
    expect(await ledgerTotals(db.client, { tenant: "acme" })).toEqual({ events: 4, cost_usd: "3.500001", unpriced_events: 1 });
    expect(await rollup()).toEqual({ events: 4, cost: "3.500001" });
  });

  it("drops an event repeated inside one batch", async () => {
    await handler()([message([priced("e5", "1")]), message([priced("e5", "1"), priced("e6", "1")])]);
    expect((await ledgerTotals(db.client, { tenant: "acme" })).events).toBe(6);
    expect(await rollup()).toEqual({ events: 6, cost: "5.500001" });
  });

  it("stores two tenants' events with the same source and id, in one batch and across batches", async () => {
    // One tenant publishing under another's (source, id) must not make the other's event a duplicate.
    await handler()([message([priced("shared-id", "1", "t-victim")]), message([priced("shared-id", "2", "t-other")])]);
    await handler()([message([priced("later-id", "3", "t-victim")])]);
    await handler()([message([priced("later-id", "4", "t-other")])]);
    expect(await ledgerTotals(db.client, { tenant: "t-victim" })).toMatchObject({ events: 2, cost_usd: "4" });
    expect(await ledgerTotals(db.client, { tenant: "t-other" })).toMatchObject({ events: 2, cost_usd: "6" });
  });

  it("ignores a retried insert of the same rows, in the ledger and its rollup", async () => {
    const s = createLedgerStore(db.client, 400);
    const rows = [priced("e7", "10"), priced("e8", "20")];
    await s.insert(rows);
    await s.insert(rows); // the first insert succeeded but its answer was lost
    expect(await ledgerTotals(db.client, { tenant: "acme" })).toEqual({ events: 8, cost_usd: "35.500001", unpriced_events: 1 });
    expect(await rollup()).toEqual({ events: 8, cost: "35.500001" });
  });

  it("refuses a message that is not a priced event (the runner dead-letters it) and keeps the rest", async () => {
    expect(() => message({ nope: true })).toThrow(expect.objectContaining({ reason: "validation" }));
    const out = await handler()([message([priced("e9", "1")])]);
    expect(out[0]).toEqual({ kind: "done" });
    expect((await ledgerTotals(db.client, { tenant: "acme" })).events).toBe(9);
  });
});
