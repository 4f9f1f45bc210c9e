// The KV key of a budget: its scope's control key plus the period, so one
// scope can have, say, a daily and a monthly budget side by side.
import type { BudgetRecord, ControlScope } from "../../schemas/index.ts";
import { controlKvKey } from "../nats/control-key.ts";

export function budgetKvKey(b: Pick<BudgetRecord, "scope" | "period">): string {
  return `${controlKvKey(b.scope)}.${b.period}`;
}

/** "tenant acme", "persona ai_jesus of acme". */
export function scopeLabel(s: ControlScope): string {
  const dim = s.persona_id
    ? `persona ${s.persona_id}`
    : s.feature
      ? `feature ${s.feature}`
      : s.user_id
        ? `user ${s.user_id}`
        : s.model
          ? `model ${s.model}`
          : undefined;
  return dim ? `${dim} of ${s.tenant}` : `tenant ${s.tenant}`;
}
