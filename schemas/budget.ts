// A budget as stored in the costline-budgets KV bucket: what a scope (a
// tenant, or one persona, feature, user or model of it) may spend per period.
// Calendar periods run in the budget's time zone; rolling_30d is the last 30
// days at any moment. Key: see budgetKvKey in pipeline/budgets/budget-key.ts.
import * as z from "zod";
import { isTimeZone, nonNegativeDecimalString } from "./common.ts";
import { controlScopeSchema } from "./control.ts";

export const budgetPeriods = ["daily", "weekly", "monthly", "rolling_30d"] as const;

const timeZone = z.string().min(1).max(64).refine(isTimeZone, 'must be an IANA time zone such as "Europe/Berlin" or "UTC"');

export const budgetScopeSchema = controlScopeSchema.refine(
  (s) => [s.persona_id, s.feature, s.user_id, s.model].filter((v) => v !== undefined).length <= 1,
  "a budget scope names the tenant and at most one of persona_id, feature, user_id, model",
);

export const budgetSchema = z.object({
  scope: budgetScopeSchema,
  period: z.enum(budgetPeriods),
  /** The zone whose calendar days, weeks (from Monday) and months the period follows. */
  timezone: timeZone.default("UTC"),
  amount_usd: nonNegativeDecimalString.refine((v) => Number(v) > 0, "must be greater than zero"),
  /** Fractions of the amount that raise an alert when crossed, each once per period. */
  thresholds: z.array(z.number().positive().max(10)).min(1).max(10).default([0.5, 0.75, 0.9, 1]),
  /** A hard budget pauses its scope at 100 % until the period resets (or, rolling, until spend falls back under). */
  hard: z.boolean().default(false),
});
export type BudgetRecord = z.infer<typeof budgetSchema>;
export type BudgetInput = z.input<typeof budgetSchema>;

/**
 * Parses a stored budget; records written before budgets had scopes
 * (`{ tenant, period, … }`) are read as tenant budgets.
 */
export function parseBudget(raw: unknown) {
  if (raw && typeof raw === "object" && !("scope" in raw) && "tenant" in raw) {
    const { tenant, ...rest } = raw as Record<string, unknown>;
    return budgetSchema.safeParse({ ...rest, scope: { tenant } });
  }
  return budgetSchema.safeParse(raw);
}
