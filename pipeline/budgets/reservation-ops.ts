// The changes a reservation counter goes through, as pure functions of the
// counter (applied atomically by reservation-counter.ts): reserve, settle,
// release, and the sync that brings in the ledger's spend. Amounts are
// integer picodollars.
import type { ReservationCounter } from "../../schemas/index.ts";
import { periodOf } from "./budget-period.ts";
import type { BudgetRecord } from "../../schemas/index.ts";
import { counterUsage, emptyCounter } from "./reservation-counter.ts";

/** The counter's key: the budget's KV key, then its period (a rolling budget has one counter). */
export function counterKey(
  budgetKey: string,
  b: Pick<BudgetRecord, "period" | "timezone">,
  at: Date,
): { key: string; periodStart: Date; periodEnd: Date } {
  const p = periodOf(b.period, b.timezone, at);
  const token = b.period === "rolling_30d" ? "rolling" : `p${p.start.getTime()}`;
  return { key: `${budgetKey}.${token}`, periodStart: p.start, periodEnd: p.end };
}

export const newCounter = (budgetKey: string, periodStart: Date) => () => emptyCounter(budgetKey, periodStart.toISOString());

export type ReserveResult = { ok: true } | { ok: false; reason: "exhausted" | "not_synced"; availablePico: bigint };

/**
 * Holds `amount` unless ledger + settled + held + amount would pass `limit`.
 * A counter the ledger has never been read into denies: its spend is unknown.
 */
export const reserveOp =
  (id: string, amount: bigint, limit: bigint, ttlMs: number, requireSync: boolean) =>
  (c: ReservationCounter, now: number): ReserveResult => {
    const u = counterUsage(c, now);
    const available = limit - u.ledger - u.settled - u.reserved;
    if (requireSync && c.synced_at === undefined) return { ok: false, reason: "not_synced", availablePico: available };
    if (amount > available) return { ok: false, reason: "exhausted", availablePico: available };
    c.holds[id] = { amount: amount.toString(), expires_at: now + ttlMs };
    return { ok: true };
  };

/** Replaces a hold by the call's actual cost (a settlement never fails: the money is spent). */
export const settleOp =
  (holdId: string | undefined, eventId: string, amount: bigint) =>
  (c: ReservationCounter, now: number): void => {
    counterUsage(c, now);
    if (holdId) delete c.holds[holdId];
    c.settled[eventId] = { amount: amount.toString(), at: now };
  };

export const releaseOp =
  (holdId: string) =>
  (c: ReservationCounter, now: number): void => {
    counterUsage(c, now);
    delete c.holds[holdId];
  };

/**
 * Takes the ledger's spend for the period, read in one query together with
 * which settled events it already holds: those leave `settled`, so nothing is
 * counted twice. Settled costs the ledger has not shown after `graceMs`
 * (their usage event was never published, or was rejected) are dropped.
 */
export const syncOp =
  (ledgerPico: bigint, inLedger: ReadonlySet<string>, graceMs: number, readAt: number) =>
  (c: ReservationCounter, now: number): void => {
    counterUsage(c, now);
    // Two syncs may cross: an older reading never replaces a newer one.
    if (c.synced_at !== undefined && c.synced_at > readAt) return;
    c.ledger = ledgerPico.toString();
    for (const [id, s] of Object.entries(c.settled)) if (inLedger.has(id) || s.at < readAt - graceMs) delete c.settled[id];
    c.synced_at = readAt;
  };
