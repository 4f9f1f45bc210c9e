// Keeps every hard budget's reservation counter in step with the ledger: each
// pass reads the scope's spend in the current period from the ledger (the
// figure the detector and GET /v1/budgets use) together with which settled
// events it already holds, and writes both into the counter in one
// compare-and-set. Runs wherever the ledger is reachable (`costline up`, the
// detector's process); producers' guards never touch ClickHouse.
import type { ClickHouseClient } from "@clickhouse/client";
import type { BudgetRecord } from "../../schemas/index.ts";
import { queryRows } from "../clickhouse/client.ts";
import { chTime } from "../ledger/ledger-row.ts";
import type { Logger } from "../observability/log.ts";
import { toPico } from "../pricing/decimal.ts";
import { sqlFile } from "../queries/sql-files.ts";
import type { CounterClient } from "./reservation-counter.ts";
import { counterKey, newCounter, syncOp } from "./reservation-ops.ts";

export interface ReservationSyncDeps {
  client: ClickHouseClient;
  counters: CounterClient;
  /** The current budgets (the budget store's list). */
  budgets: () => Promise<{ key: string; budget: BudgetRecord }[]>;
  settledGraceMs: number;
  /** How long before a period ends its successor's counter is prepared (so the first calls of a period are not refused as unsynced). */
  aheadMs?: number;
  log: Logger;
}

/** The ledger's spend for a budget's scope in [from, to), and which of `ids` it holds. */
export async function readLedgerSpend(
  client: ClickHouseClient,
  b: BudgetRecord,
  from: Date,
  to: Date,
  ids: string[],
): Promise<{ spendPico: bigint; seen: Set<string> }> {
  const rows = await queryRows<{ spend: string; seen: string[] }>(client, sqlFile("budget_reservation_sync"), {
    tenant: b.scope.tenant,
    from: chTime(from.toISOString()),
    to: chTime(to.toISOString()),
    persona_id: b.scope.persona_id ?? "",
    feature: b.scope.feature ?? "",
    user_id: b.scope.user_id ?? "",
    model: b.scope.model ?? "",
    ids,
  });
  return { spendPico: toPico(rows[0]?.spend ?? "0"), seen: new Set(rows[0]?.seen ?? []) };
}

export function createReservationSync(deps: ReservationSyncDeps) {
  /** Syncs one budget's counter for the period holding `now`. */
  async function syncOne(budgetKey: string, b: BudgetRecord, now: Date): Promise<void> {
    const { key, periodStart, periodEnd } = counterKey(budgetKey, b, now);
    const before = await deps.counters.read(key);
    const readAt = Date.now();
    // A rolling period ends now; events stamped slightly ahead (another clock) still count.
    const to = b.period === "rolling_30d" ? new Date(now.getTime() + 3_600_000) : periodEnd;
    const { spendPico, seen } = await readLedgerSpend(deps.client, b, periodStart, to, Object.keys(before?.settled ?? {}));
    await deps.counters.apply(key, syncOp(spendPico, seen, deps.settledGraceMs, readAt), newCounter(budgetKey, periodStart));
  }

  return {
    syncOne,
    /** One pass over every hard budget; a failing budget is logged and the others still sync. */
    async pass(): Promise<void> {
      const now = new Date();
      for (const { key, budget } of await deps.budgets()) {
        if (!budget.hard) continue;
        try {
          await syncOne(key, budget, now);
          const { periodEnd } = counterKey(key, budget, now);
          if (budget.period !== "rolling_30d" && periodEnd.getTime() - now.getTime() <= (deps.aheadMs ?? 5_000))
            await syncOne(key, budget, periodEnd);
        } catch (err) {
          deps.log.warn({ err, key }, "could not sync a budget's reservation counter with the ledger");
        }
      }
    },
  };
}
