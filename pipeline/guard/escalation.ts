// The graduated policy from alerts to controls, following the usual
// escalation: a spike throttles its scope, a dearer-model efficiency loss
// degrades it to a cheaper model, a critical anomaly pauses the persona for an
// hour, a hard budget at 100 % pauses its scope (tenant, persona, feature,
// user or model) until its period resets. When
// the detector resolves the alert, the control it set is cleared. A manual
// override (set by an operator, not yet expired) is never overwritten.
import type { Alert, Control } from "../../schemas/index.ts";
import { defaultDowngrades } from "../config/downgrades.ts";

export interface EscalationConfig {
  throttleRequestsPerMinute: number;
  pauseMinutes: number;
  /** Requested model → cheaper stand-in, for degraded controls. */
  downgrades: Record<string, string>;
}

export const defaultEscalation: EscalationConfig = { throttleRequestsPerMinute: 60, pauseMinutes: 60, downgrades: defaultDowngrades };

export type Action = { action: "set"; control: Control } | { action: "clear"; scope: Control["scope"]; reason: string };

const rank = { closed: 0, throttled: 1, degraded: 2, open: 3 } as const;

export function controlScopeOf(a: Pick<Alert, "scope" | "scope_key" | "tenant" | "budget">): Control["scope"] | undefined {
  // A budget alert controls exactly the budget's scope.
  if (a.budget) return a.budget.scope;
  const k = a.scope_key;
  switch (a.scope) {
    case "tenant":
      return { tenant: a.tenant };
    case "tenant_persona":
      return k.persona_id ? { tenant: a.tenant, persona_id: k.persona_id } : undefined;
    case "tenant_feature":
      return k.feature ? { tenant: a.tenant, feature: k.feature } : undefined;
    case "tenant_model":
      return k.model ? { tenant: a.tenant, model: k.model } : undefined;
    case "tenant_user":
      return k.user_id ? { tenant: a.tenant, user_id: k.user_id } : undefined;
    default:
      return undefined; // operations and posts are not control scopes
  }
}

export function detectorTag(a: Pick<Alert, "fingerprint">): string {
  return `detector:${a.fingerprint}`;
}

export function escalate(a: Alert, existing: Control | undefined, opts: { config?: EscalationConfig; now?: Date } = {}): Action | null {
  const config = opts.config ?? defaultEscalation;
  const now = opts.now ?? new Date();
  const scope = controlScopeOf(a);
  if (!scope) return null;
  const manual =
    existing && !existing.set_by.startsWith("detector:") && (!existing.expires_at || Date.parse(existing.expires_at) > now.getTime());
  if (manual) return null;
  if (a.status === "resolved")
    return existing?.set_by === detectorTag(a) ? { action: "clear", scope, reason: `resolved: ${a.message}` } : null;

  const base = {
    scope,
    reason: `${a.type} (${a.severity}): ${a.message}`,
    set_by: detectorTag(a),
    set_at: now.toISOString(),
    probe_every_s: 30,
  };
  let control: Control | undefined;
  if (a.type === "budget") {
    if (a.budget?.hard && (a.multiplier ?? 0) >= 1) control = { ...base, state: "open", paused_until: a.budget.resets_at };
  } else if (a.severity === "critical" && scope.persona_id) {
    control = { ...base, state: "open", paused_until: new Date(now.getTime() + config.pauseMinutes * 60_000).toISOString() };
  } else if (a.type === "efficiency") {
    const model = a.evidence.by_model[0]?.key;
    const to = model ? config.downgrades[model] : undefined;
    control = to
      ? { ...base, state: "degraded", model_map: { [model!]: to } }
      : { ...base, state: "throttled", throttle: { requests_per_minute: config.throttleRequestsPerMinute } };
  } else if (a.type === "spike") {
    control = { ...base, state: "throttled", throttle: { requests_per_minute: config.throttleRequestsPerMinute } };
  }
  if (!control) return null;
  // Never weaken a stronger control already in force.
  if (existing && rank[existing.state] > rank[control.state]) return null;
  return { action: "set", control };
}
