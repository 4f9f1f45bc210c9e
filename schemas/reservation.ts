// The reservation counter of one hard budget in one period, as stored in the
// costline-reservations KV bucket (key: the budget's key, then the period's
// token; see pipeline/budgets/reservation-counter.ts). Amounts are integer
// picodollars as decimal strings: exact, and ordinary JSON.
import * as z from "zod";

const pico = z.string().regex(/^\d{1,40}$/, "an integer count of picodollars");

export const reservationHoldSchema = z.object({
  amount: pico,
  /** Epoch milliseconds after which the hold no longer counts and is dropped by the next write. */
  expires_at: z.number().int().nonnegative(),
});

export const settledCostSchema = z.object({
  amount: pico,
  /** Epoch milliseconds of the settlement; entries the ledger never shows are dropped after a grace period. */
  at: z.number().int().nonnegative(),
});

export const reservationCounterSchema = z.object({
  budget_key: z.string().min(1),
  period_start: z.string(),
  /** The ledger's spend for the scope in the period at the last sync. */
  ledger: pico.default("0"),
  /** When the ledger was last read into this counter (absent: never; hard budgets deny until it is). */
  synced_at: z.number().int().nonnegative().optional(),
  /** Open holds, by reservation id. */
  holds: z.record(z.string(), reservationHoldSchema).default({}),
  /** Settled costs not yet seen in the ledger, by usage event id. */
  settled: z.record(z.string(), settledCostSchema).default({}),
});
export type ReservationCounter = z.infer<typeof reservationCounterSchema>;
