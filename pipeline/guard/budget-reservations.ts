// Reservations against hard budgets, for the guard: before a call, hold its
// estimated cost in the counter of every hard budget the call falls under
// (tenant, persona, feature, user, and the model that will run); after it,
// settle each hold with the actual cost, or release it when the call failed.
// A hold nobody settles expires by itself (`ttlMs`). Budgets come from a watch
// of the costline-budgets KV bucket; counters live in costline-reservations.
//
//   const reservations = await createBudgetReservations({ nc });
//   const r = await reservations.reserve({ tenant: "acme", persona: "ai_jesus", model: "gpt-4o" }, "0.02");
//   if (!r.ok) throw new Error(r.reason);
//   try { const res = await callModel(); await r.settle({ costUsd: "0.013", eventId, model: "gpt-4o" }); }
//   catch (e) { await r.release(); throw e; }
import { randomUUID } from "node:crypto";
import { Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/nats-core";
import { parseBudget, type BudgetRecord } from "../../schemas/index.ts";
import { createCounterClient, type CounterClient } from "../budgets/reservation-counter.ts";
import { counterKey, newCounter, releaseOp, reserveOp, settleOp } from "../budgets/reservation-ops.ts";
import { errorMessage } from "../errors.ts";
import { kvBuckets } from "../nats/subjects.ts";
import { fromPico, toPico } from "../pricing/decimal.ts";

export interface ReservationScope {
  tenant: string;
  persona?: string;
  feature?: string;
  user?: string;
  /** The model that will serve the call. */
  model: string;
}

export interface ReservationOptions {
  nc: NatsConnection;
  /** How long an unsettled hold counts (default 120 s): a crashed caller's hold frees itself then. */
  ttlMs?: number;
  /**
   * What reserve answers when the counters cannot be reached (NATS down, or a
   * counter the ledger has not been read into yet): "deny" (default, fail
   * closed) or "allow" (fail open, the detector's pause still applies).
   */
  onUnavailable?: "deny" | "allow";
  /** How long one counter write may take. */
  timeoutMs?: number;
}

export type ReserveOutcome =
  { ok: true; reservation: Reservation } | { ok: false; reason: string; budgetKey: string; availableUsd?: string; retryable: boolean };

export interface Reservation {
  id: string;
  amountUsd: string;
  /** The budget keys holding it. */
  budgets: string[];
  /** Replaces the holds by the actual cost; `model` is the one that ran (a model budget of another model gets the cost instead). */
  settle(actual: { costUsd: string; eventId: string; model: string }): Promise<void>;
  release(): Promise<void>;
}

interface Held {
  budgetKey: string;
  budget: BudgetRecord;
  counter: string;
  periodStart: Date;
}

/** Which budgets' scopes a call falls under, by their KV keys. */
function matches(b: BudgetRecord, s: ReservationScope): boolean {
  const sc = b.scope;
  if (sc.tenant !== s.tenant) return false;
  if (sc.persona_id !== undefined) return sc.persona_id === s.persona;
  if (sc.feature !== undefined) return sc.feature === s.feature;
  if (sc.user_id !== undefined) return sc.user_id === s.user;
  if (sc.model !== undefined) return sc.model === s.model;
  return true;
}

export async function createBudgetReservations(opts: ReservationOptions) {
  const ttlMs = opts.ttlMs ?? 120_000;
  const failOpen = opts.onUnavailable === "allow";
  const kvm = new Kvm(opts.nc);
  const counters: CounterClient = createCounterClient({
    // Direct gets name the key in the subject, which is what a tenant producer's role permits (not the bucket-wide message get).
    kv: await kvm.open(kvBuckets.reservations, { allow_direct: true }),
    timeoutMs: opts.timeoutMs,
  });
  const budgetsKv = await kvm.open(kvBuckets.budgets);
  const hard = new Map<string, BudgetRecord>();
  const watch = await budgetsKv.watch();
  let markReady: () => void = () => undefined;
  const ready = new Promise<void>((resolve) => (markReady = resolve));
  if ((await budgetsKv.status()).values === 0) markReady();
  void (async () => {
    for await (const e of watch) {
      let raw: unknown;
      try {
        raw = e.operation === "PUT" ? e.json() : undefined;
      } catch {
        raw = undefined; // not JSON: names no budget
      }
      const b = raw === undefined ? undefined : parseBudget(raw);
      if (b?.success && b.data.hard) hard.set(e.key, b.data);
      else hard.delete(e.key);
      if (e.delta === 0) markReady();
    }
  })();
  await ready;

  const applicable = (s: ReservationScope): [string, BudgetRecord][] => [...hard].filter(([, b]) => matches(b, s));

  async function releaseAll(id: string, held: Held[]): Promise<void> {
    await Promise.all(
      held.map((h) => counters.apply(h.counter, releaseOp(id), newCounter(h.budgetKey, h.periodStart)).catch(() => undefined)),
    );
  }

  return {
    ready,
    /** The hard budgets a call with this scope reserves against. */
    budgetsFor: (s: ReservationScope) => applicable(s).map(([k]) => k),

    /** Holds `amountUsd` in every hard budget the call falls under, or none of them. */
    async reserve(s: ReservationScope, amountUsd: string): Promise<ReserveOutcome> {
      const id = randomUUID();
      const amount = toPico(amountUsd);
      const now = new Date();
      const held: Held[] = [];
      // One counter after another; when one says no, the holds already taken are given back.
      for (const [budgetKey, budget] of applicable(s)) {
        const { key, periodStart } = counterKey(budgetKey, budget, now);
        try {
          const r = await counters.apply(
            key,
            reserveOp(id, amount, toPico(budget.amount_usd), ttlMs, !failOpen),
            newCounter(budgetKey, periodStart),
          );
          if (!r.ok) {
            await releaseAll(id, held);
            return r.reason === "not_synced"
              ? { ok: false, reason: `the budget ${budgetKey} has not been read from the ledger yet`, budgetKey, retryable: true }
              : {
                  ok: false,
                  reason: `hard budget ${budgetKey} exhausted: ${fromPico(r.availablePico < 0n ? 0n : r.availablePico)} USD left, ${amountUsd} asked`,
                  budgetKey,
                  availableUsd: fromPico(r.availablePico),
                  retryable: false,
                };
          }
          held.push({ budgetKey, budget, counter: key, periodStart });
        } catch (err) {
          await releaseAll(id, held);
          if (failOpen) return { ok: true, reservation: reservationOf(id, s, amountUsd, []) };
          return {
            ok: false,
            reason: `budget reservations unavailable (${errorMessage(err)}): denied, the budget is hard`,
            budgetKey,
            retryable: true,
          };
        }
      }
      return { ok: true, reservation: reservationOf(id, s, amountUsd, held) };
    },
    async close(): Promise<void> {
      watch.stop();
    },
  };

  function reservationOf(id: string, scope: ReservationScope, amountUsd: string, held: Held[]): Reservation {
    let done = false;
    return {
      id,
      amountUsd,
      budgets: held.map((h) => h.budgetKey),
      async settle(actual) {
        if (done) return;
        done = true;
        const cost = toPico(actual.costUsd);
        const scopeRan = (b: BudgetRecord) => b.scope.model === undefined || b.scope.model === actual.model;
        const writes: Promise<unknown>[] = [];
        for (const h of held) {
          // A model budget held for a model that did not run gets its hold back; the one that ran is charged below.
          writes.push(
            counters.apply(
              h.counter,
              scopeRan(h.budget) ? settleOp(id, actual.eventId, cost) : releaseOp(id),
              newCounter(h.budgetKey, h.periodStart),
            ),
          );
        }
        const heldKeys = new Set(held.map((h) => h.budgetKey));
        for (const [budgetKey, budget] of hard) {
          if (heldKeys.has(budgetKey) || budget.scope.model !== actual.model || !matches(budget, { ...scope, model: actual.model }))
            continue;
          const { key, periodStart } = counterKey(budgetKey, budget, new Date());
          writes.push(counters.apply(key, settleOp(undefined, actual.eventId, cost), newCounter(budgetKey, periodStart)));
        }
        await Promise.all(writes);
      },
      async release() {
        if (done) return;
        done = true;
        await releaseAll(id, held);
      },
    };
  }
}
export type BudgetReservations = Awaited<ReturnType<typeof createBudgetReservations>>;
