// A budget as stored in the costline-budgets KV bucket (key: the tenant,
// escaped as a subject token): what a tenant may spend per period.
import { z } from "zod";
import { decimalString } from "./common.ts";

export const budgetSchema = z.object({
  tenant: z.string().min(1),
  period: z.enum(["daily", "weekly", "monthly"]),
  amount_usd: decimalString,
  thresholds: z.array(z.number().positive().max(10)).default([0.5, 0.75, 0.8, 0.9, 1]),
  hard: z.boolean().default(false),
});
export type BudgetRecord = z.infer<typeof budgetSchema>;
