// Where a budget's period starts and ends: calendar days, weeks (from Monday)
// and months in the budget's time zone, or the rolling last 30 days. Time
// zone arithmetic (DST, half-hour offsets) is luxon's.
import { DateTime } from "luxon";
import type { BudgetRecord } from "../../schemas/index.ts";

export type BudgetPeriod = BudgetRecord["period"];

export const ROLLING_MS = 30 * 24 * 3_600_000;

const unitOf = { daily: "day", weekly: "week", monthly: "month" } as const;

/** The period holding `t`: for rolling_30d, the 30 days that end at `t`. */
export function periodOf(period: BudgetPeriod, timezone: string, t: Date): { start: Date; end: Date } {
  if (period === "rolling_30d") return { start: new Date(t.getTime() - ROLLING_MS), end: t };
  const unit = unitOf[period];
  const local = DateTime.fromJSDate(t, { zone: timezone });
  // luxon weeks start on Monday (ISO), which is what "weekly" means here.
  const start = local.startOf(unit);
  return { start: start.toJSDate(), end: start.plus({ [`${unit}s`]: 1 }).toJSDate() };
}

/** "monthly (Europe/Berlin)", "rolling 30 days". */
export function periodLabel(period: BudgetPeriod, timezone: string): string {
  if (period === "rolling_30d") return "rolling 30-day";
  return timezone === "UTC" ? period : `${period} (${timezone})`;
}
