// An alert raised by the detector, published on `<prefix>.alerts.<severity>.<type>`
// and stored in the `alerts` table.
import * as z from "zod";
import { decimalString, isoTime } from "./common.ts";
import { controlScopeSchema } from "./control.ts";

export const alertSeverities = ["info", "medium", "high", "critical"] as const;
export const alertTypes = [
  "spike",
  "creep",
  "efficiency",
  "roi",
  "budget",
  "budget_forecast",
  "cost_per_post",
  "mix_shift",
  "unpriced_model",
  "reconciliation_drift",
] as const;

/** On budget alerts: the budget crossed, its spend, and when its period resets. */
export const alertBudgetSchema = z.object({
  key: z.string(),
  scope: controlScopeSchema,
  period: z.string(),
  timezone: z.string(),
  amount_usd: decimalString,
  spend_usd: decimalString,
  hard: z.boolean(),
  period_start: isoTime,
  /** Calendar periods: the period's end. Rolling: when enough old spend leaves the 30 days to fall back under. */
  resets_at: isoTime,
});
export type AlertBudget = z.infer<typeof alertBudgetSchema>;

const contributor = z.object({ key: z.string(), cost_usd: decimalString, share: z.number().min(0).max(1) });

export const alertSchema = z.object({
  id: z.string().min(1),
  fingerprint: z.string().min(1),
  type: z.enum(alertTypes),
  severity: z.enum(alertSeverities),
  status: z.enum(["firing", "resolved"]),
  tenant: z.string().min(1),
  scope: z.string(),
  scope_key: z.record(z.string(), z.string()),
  observed: z.string(),
  expected: z.string(),
  multiplier: z.number().nullable(),
  score: z.number().nullable(),
  window_start: isoTime,
  window_end: isoTime,
  first_seen: isoTime,
  detected_at: isoTime,
  message: z.string(),
  evidence: z.object({
    by_model: z.array(contributor).default([]),
    by_operation: z.array(contributor).default([]),
    by_post: z.array(contributor).default([]),
    by_user: z.array(contributor).default([]),
    /** What the observed value was compared with, in words (e.g. "median of the last 60 windows"). */
    baseline: z.string().optional(),
    /** The series detector that scored a statistical finding (a registry name). */
    detector: z.string().optional(),
    /** The likely cause in words: the top contributors by share of the window's cost. */
    cause: z.string().optional(),
    /** Alerts of one type on one tenant's nested scopes in overlapping windows share this id: one incident. */
    incident: z.string().optional(),
  }),
  budget: alertBudgetSchema.optional(),
});
export type Alert = z.infer<typeof alertSchema>;
