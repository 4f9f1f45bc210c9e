// Reservations against hard budgets on a real NATS KV bucket: clients on
// separate connections racing for the last of a budget never hold more than
// it has left; a hold nobody settles expires and frees its amount; a settled
// cost counts until the ledger sync takes it over; NATS out of reach denies.
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { jetstreamManager } from "@nats-io/jetstream";
import { Kvm, type KV } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/nats-core";
import { loadConfig } from "../../pipeline/config/config.ts";
import { connectNats } from "../../pipeline/nats/connect.ts";
import { startEmbeddedNats, type EmbeddedNats } from "../../pipeline/nats/embedded-server.ts";
import { applyTopology } from "../../pipeline/nats/topology.ts";
import { createBudgetReservations, type BudgetReservations } from "../../pipeline/guard/budget-reservations.ts";
import { createCounterClient, counterUsage } from "../../pipeline/budgets/reservation-counter.ts";
import { counterKey, newCounter, syncOp } from "../../pipeline/budgets/reservation-ops.ts";
import { budgetKvKey } from "../../pipeline/budgets/budget-key.ts";
import { budgetSchema, type BudgetInput } from "../../schemas/index.ts";
import { toPico, fromPico } from "../../pipeline/pricing/decimal.ts";
import { tempHome, waitFor } from "../helpers/stack-process.ts";

const home = tempHome("costline-reservations-");
const config = loadConfig({ COSTLINE_HOME: home });
let server: EmbeddedNats;
const conns: NatsConnection[] = [];
let budgetsKv: KV;
let counters: ReturnType<typeof createCounterClient>;

async function connection(): Promise<NatsConnection> {
  const nc = await connectNats({ ...config.nats, url: server.url }, "test");
  conns.push(nc);
  return nc;
}

/** Puts a hard budget and syncs its counter as the ledger sync would, with `ledgerUsd` already spent. */
async function hardBudget(input: BudgetInput, ledgerUsd: string): Promise<{ key: string; counter: string }> {
  const b = budgetSchema.parse({ ...input, hard: true });
  const key = budgetKvKey(b);
  await budgetsKv.put(key, JSON.stringify(b));
  const c = counterKey(key, b, new Date());
  await counters.apply(c.key, syncOp(toPico(ledgerUsd), new Set(), 600_000, Date.now()), newCounter(key, c.periodStart));
  return { key, counter: c.key };
}

async function clients(n: number, ttlMs = 60_000): Promise<BudgetReservations[]> {
  return Promise.all(Array.from({ length: n }, async () => createBudgetReservations({ nc: await connection(), ttlMs })));
}

/** Waits until every client's budget watch has seen `key`. */
async function seen(rs: BudgetReservations[], scope: Parameters<BudgetReservations["budgetsFor"]>[0], key: string) {
  await waitFor(
    `the budget ${key} in every client`,
    async () => (rs.every((r) => r.budgetsFor(scope).includes(key)) ? true : undefined),
    10_000,
  );
}

beforeAll(async () => {
  server = await startEmbeddedNats({ bin: "nats-server", storeDir: path.join(home, "nats"), logFile: path.join(home, "nats.log") });
  const nc = await connection();
  await applyTopology(nc, await jetstreamManager(nc), config);
  const kvm = new Kvm(nc);
  budgetsKv = await kvm.open("costline-budgets");
  counters = createCounterClient({ kv: await kvm.open("costline-reservations") });
});

afterAll(async () => {
  for (const nc of conns) await nc.close().catch(() => undefined);
  await server?.stop();
});

describe("budget reservations", () => {
  it("never lets clients racing on separate connections hold more than a hard budget has left", async () => {
    // $1.00 budget, $0.90 already in the ledger: room for exactly ten $0.01 holds.
    const { key, counter } = await hardBudget({ scope: { tenant: "race", persona_id: "p1" }, period: "monthly", amount_usd: "1" }, "0.9");
    const rs = await clients(4);
    const scope = { tenant: "race", persona: "p1", model: "gpt-4o-mini" };
    await seen(rs, scope, key);
    const outcomes = await Promise.all(rs.flatMap((r) => Array.from({ length: 25 }, () => r.reserve(scope, "0.01"))));
    const granted = outcomes.filter((o) => o.ok);
    expect(granted).toHaveLength(10);
    const denied = outcomes.filter((o) => !o.ok);
    expect(denied.every((o) => !o.ok && !o.retryable && o.budgetKey === key)).toBe(true);
    const c = (await counters.read(counter))!;
    const u = counterUsage(c, Date.now());
    expect(fromPico(u.ledger + u.settled + u.reserved)).toBe("1");
    for (const r of rs) await r.close();
  }, 60_000);

  it("frees a hold nobody settles once it expires", async () => {
    const { key, counter } = await hardBudget({ scope: { tenant: "expiry" }, period: "daily", amount_usd: "1" }, "0");
    const [r] = await clients(1, 1_500);
    const scope = { tenant: "expiry", model: "gpt-4o" };
    await seen([r!], scope, key);
    const first = await r!.reserve(scope, "0.7");
    expect(first.ok).toBe(true); // never settled nor released: the caller "crashed"
    const second = await r!.reserve(scope, "0.5");
    expect(second).toMatchObject({ ok: false, budgetKey: key });
    const later = await waitFor(
      "the expired hold to free its amount",
      async () => {
        const o = await r!.reserve(scope, "0.5");
        return o.ok ? o : undefined;
      },
      20_000,
    );
    expect(later.ok).toBe(true);
    const u = counterUsage((await counters.read(counter))!, Date.now());
    expect(fromPico(u.reserved)).toBe("0.5");
    await r!.close();
  }, 60_000);

  it("settles the actual cost, counts it until the ledger holds it, and releases failed calls", async () => {
    const { key, counter } = await hardBudget({ scope: { tenant: "settle" }, period: "monthly", amount_usd: "1" }, "0.2");
    const [r] = await clients(1);
    const scope = { tenant: "settle", model: "gpt-4o" };
    await seen([r!], scope, key);
    const a = await r!.reserve(scope, "0.3");
    const b = await r!.reserve(scope, "0.3");
    if (!a.ok || !b.ok) throw new Error("reservations refused");
    await a.reservation.settle({ costUsd: "0.05", eventId: "ev-1", model: "gpt-4o" });
    await b.reservation.release();
    let u = counterUsage((await counters.read(counter))!, Date.now());
    expect([fromPico(u.ledger), fromPico(u.settled), fromPico(u.reserved)]).toEqual(["0.2", "0.05", "0"]);
    // The ledger now holds ev-1: the sync moves its cost from settled into the ledger figure, counted once.
    const c = counterKey(key, budgetSchema.parse({ scope: { tenant: "settle" }, period: "monthly", amount_usd: "1" }), new Date());
    await counters.apply(counter, syncOp(toPico("0.25"), new Set(["ev-1"]), 600_000, Date.now()), newCounter(key, c.periodStart));
    u = counterUsage((await counters.read(counter))!, Date.now());
    expect([fromPico(u.ledger), fromPico(u.settled)]).toEqual(["0.25", "0"]);
    // An older reading arriving late never replaces a newer one.
    await counters.apply(counter, syncOp(toPico("0.2"), new Set(), 600_000, Date.now() - 60_000), newCounter(key, c.periodStart));
    expect((await counters.read(counter))!.ledger).toBe(toPico("0.25").toString());
    await r!.close();
  }, 60_000);

  it("denies until the ledger has been read into a new counter, and fails closed without NATS", async () => {
    const b = budgetSchema.parse({ scope: { tenant: "unsynced" }, period: "monthly", amount_usd: "5", hard: true });
    await budgetsKv.put(budgetKvKey(b), JSON.stringify(b));
    const nc = await connection();
    const r = await createBudgetReservations({ nc, timeoutMs: 1_000 });
    const scope = { tenant: "unsynced", model: "gpt-4o" };
    await seen([r], scope, budgetKvKey(b));
    expect(await r.reserve(scope, "0.01")).toMatchObject({ ok: false, retryable: true });
    await nc.close();
    const offline = await r.reserve(scope, "0.01");
    expect(offline).toMatchObject({ ok: false, retryable: true });
    expect(!offline.ok && offline.reason).toMatch(/unavailable/);
  }, 60_000);
});
