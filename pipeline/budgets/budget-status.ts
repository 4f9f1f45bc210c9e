// A budget's status right now: spent (the ledger's figure for the period),
// reserved (open holds) and settled-but-not-yet-in-the-ledger from its
// reservation counter, what remains, where the period is heading at its
// current pace, and which thresholds the spend has crossed. Exact: integer
// picodollars throughout, decimal strings out.
import type { ClickHouseClient } from "@clickhouse/client";
import type { BudgetRecord } from "../../schemas/index.ts";
import { fromPico, toPico } from "../pricing/decimal.ts";
import { readSpendBuckets } from "./budget-spend.ts";
import { counterUsage, type CounterClient } from "./reservation-counter.ts";
import { counterKey } from "./reservation-ops.ts";

export interface BudgetStatus {
  key: string;
  scope: BudgetRecord["scope"];
  period: BudgetRecord["period"];
  timezone: string;
  hard: boolean;
  amount_usd: string;
  spent_usd: string;
  reserved_usd: string;
  /** Settled by guards, not yet in the ledger (counted against a hard budget meanwhile). */
  pending_usd: string;
  /** amount − spent − reserved − pending, never below 0. */
  remaining_usd: string;
  /** How far spent is past the amount (0 when under). */
  over_usd: string;
  used: number;
  /** Calendar periods: spent at the pace so far, carried to the period's end. Rolling: the spend of the last 30 days. */
  projected_usd: string;
  thresholds_crossed: number[];
  period_start: string;
  period_end: string;
}

const max0 = (v: bigint) => (v < 0n ? 0n : v);

export async function budgetStatus(
  deps: { client: ClickHouseClient; counters?: CounterClient },
  key: string,
  b: BudgetRecord,
  now: Date,
): Promise<BudgetStatus> {
  const c = counterKey(key, b, now);
  const [buckets, counter] = await Promise.all([
    readSpendBuckets(deps.client, b.scope, c.periodStart, b.period === "rolling_30d" ? new Date(now.getTime() + 1) : c.periodEnd),
    deps.counters?.read(c.key).catch(() => undefined),
  ]);
  const spent = buckets.reduce((sum, x) => sum + toPico(x.spend), 0n);
  const usage = counter ? counterUsage(counter, now.getTime()) : { reserved: 0n, settled: 0n };
  const amount = toPico(b.amount_usd);
  const elapsed = BigInt(Math.max(1, now.getTime() - c.periodStart.getTime()));
  const length = BigInt(c.periodEnd.getTime() - c.periodStart.getTime());
  const projected = b.period === "rolling_30d" || length <= elapsed ? spent : (spent * length) / elapsed;
  const used = Number((spent * 1_000_000n) / amount) / 1_000_000;
  return {
    key,
    scope: b.scope,
    period: b.period,
    timezone: b.timezone,
    hard: b.hard,
    amount_usd: b.amount_usd,
    spent_usd: fromPico(spent),
    reserved_usd: fromPico(usage.reserved),
    pending_usd: fromPico(usage.settled),
    remaining_usd: fromPico(max0(amount - spent - usage.reserved - usage.settled)),
    over_usd: fromPico(max0(spent - amount)),
    used,
    projected_usd: fromPico(projected),
    thresholds_crossed: [...b.thresholds].sort((x, y) => x - y).filter((t) => used >= t),
    period_start: c.periodStart.toISOString(),
    period_end: (b.period === "rolling_30d" ? now : c.periodEnd).toISOString(),
  };
}
