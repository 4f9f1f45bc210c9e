// Setting or changing a budget evaluates it at once against the period's
// spend (the ledger's, seeded into the tracker, plus what the ledger holds in
// the window still open): thresholds already crossed become alerts now, not
// when the scope's next window happens to arrive. The alerts carry the same
// fingerprints as the windows' budget alerts, so a restarted detector and the
// windows that follow treat them as already alerted.
import { createHash } from "node:crypto";
import type { ClickHouseClient } from "@clickhouse/client";
import type { Alert, ControlScope } from "../../schemas/index.ts";
import { alertFingerprint } from "../findings/finding.ts";
import { sumMoney } from "../pricing/decimal.ts";
import { readSpendBuckets } from "./budget-spend.ts";
import type { BudgetTracker } from "./budget-tracker.ts";

/** The window scope and key a budget scope's alerts are filed under (those of its windows). */
function windowScopeOf(s: ControlScope): { scope: string; key: Record<string, string> } {
  if (s.persona_id !== undefined) return { scope: "tenant_persona", key: { tenant: s.tenant, persona_id: s.persona_id } };
  if (s.feature !== undefined) return { scope: "tenant_feature", key: { tenant: s.tenant, feature: s.feature } };
  if (s.user_id !== undefined) return { scope: "tenant_user", key: { tenant: s.tenant, user_id: s.user_id } };
  if (s.model !== undefined) return { scope: "tenant_model", key: { tenant: s.tenant, model: s.model } };
  return { scope: "tenant", key: { tenant: s.tenant } };
}

const hash = (s: string) => createHash("sha256").update(s).digest("hex").slice(0, 32);

/**
 * The alerts a budget raises the moment it is set: `cutoff` is where the
 * tracker's seed from the ledger ended (the open window's start), `now` the
 * time of the change.
 */
export async function budgetAlertsOnChange(
  deps: { tracker: BudgetTracker; client: ClickHouseClient },
  key: string,
  cutoff: Date,
  now: Date,
): Promise<Alert[]> {
  const b = deps.tracker.get(key);
  if (!b) return [];
  // The open window's spend is in the ledger already but reaches the tracker only with its window.
  const ahead = sumMoney((await readSpendBuckets(deps.client, b.scope, cutoff, new Date(now.getTime() + 1))).map((x) => x.spend));
  const { scope, key: scopeKey } = windowScopeOf(b.scope);
  return deps.tracker.evaluateNow(key, now, ahead).map(({ finding: f, budget, series }): Alert => {
    const fingerprint = alertFingerprint(f.type, series);
    return {
      id: hash(`${fingerprint}|on-change|${now.toISOString()}`),
      fingerprint,
      type: f.type,
      severity: f.severity,
      status: "firing",
      tenant: b.scope.tenant,
      scope,
      scope_key: scopeKey,
      observed: f.observed,
      expected: f.expected,
      multiplier: f.multiplier,
      score: f.score,
      window_start: budget.period_start,
      window_end: now.toISOString(),
      first_seen: now.toISOString(),
      detected_at: now.toISOString(),
      message: f.message,
      evidence: { by_model: [], by_operation: [], by_post: [], by_user: [] },
      budget,
    };
  });
}

/**
 * budgetAlertsOnChange, published: each alert is retried a few times (with a
 * growing pause) before the error reaches the caller, since its threshold now
 * counts as crossed and no window would raise it again this period.
 */
export async function raiseBudgetAlertsOnChange(
  deps: { tracker: BudgetTracker; client: ClickHouseClient; publish: (a: Alert) => Promise<unknown>; attempts?: number },
  key: string,
  cutoff: Date,
  now: Date,
): Promise<Alert[]> {
  const alerts = await budgetAlertsOnChange(deps, key, cutoff, now);
  const attempts = deps.attempts ?? 5;
  for (const a of alerts)
    for (let i = 1; ; i++) {
      try {
        await deps.publish(a);
        break;
      } catch (err) {
        if (i >= attempts) throw err;
        await new Promise((r) => setTimeout(r, 200 * 2 ** i));
      }
    }
  return alerts;
}
