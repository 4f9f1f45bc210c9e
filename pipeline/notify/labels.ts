// The labels an alert is matched on by routes, silences and inhibition rules:
// type, severity, status, tenant, scope, scope_id (the scope's key as one
// string), fingerprint, alert_id, and each key of the scope (persona_id,
// model, provider, feature, operation, user_id, post_id).
import type { Alert, Matcher } from "../../schemas/index.ts";
import { MAX_MATCHED_VALUE, linearRegExp, regexHazard } from "../../schemas/regex-safety.ts";

export type Labels = Readonly<Record<string, string>>;

export const severityRank: Record<string, number> = { info: 0, low: 0, medium: 1, high: 2, critical: 3 };

/** The scope key as one stable string: `persona_id=p-a,tenant=acme`. */
export function scopeId(scopeKey: Record<string, string>): string {
  return Object.keys(scopeKey)
    .sort()
    .map((k) => `${k}=${scopeKey[k]}`)
    .join(",");
}

export function alertLabels(a: Alert): Labels {
  return {
    ...a.scope_key,
    type: a.type,
    severity: a.severity,
    status: a.status,
    tenant: a.tenant,
    scope: a.scope,
    scope_id: scopeId(a.scope_key),
    fingerprint: a.fingerprint,
    alert_id: a.id,
  };
}

const compiled = new WeakMap<Matcher, RegExp>();
/** Stands for a refused pattern (one the linear-time engine cannot run): a matcher with one is false whatever its operator, so a silence with it silences nothing. */
const HAZARD = /(?!)/;

function regexOf(m: Matcher): RegExp {
  let re = compiled.get(m);
  if (!re) {
    // A pattern stored before such patterns were refused (a back-reference,
    // a lookaround) matches nothing rather than run in a backtracking engine.
    re = regexHazard(m.value) ? HAZARD : linearRegExp(m.value);
    compiled.set(m, re);
  }
  return re;
}

/** A missing label reads as "" (so `persona_id!=x` matches an alert with no persona). */
export function matches(m: Matcher, labels: Labels): boolean {
  const v = labels[m.name] ?? "";
  switch (m.op) {
    case "=":
      return v === m.value;
    case "!=":
      return v !== m.value;
    // A value too long to match in bounded time matches no pattern (=~ false, !~ true).
    case "=~":
    case "!~": {
      const re = regexOf(m);
      if (re === HAZARD || v.length > MAX_MATCHED_VALUE) return false;
      return re.test(v) === (m.op === "=~");
    }
  }
}

export const matchesAll = (ms: readonly Matcher[], labels: Labels): boolean => ms.every((m) => matches(m, labels));

export const formatMatcher = (m: Matcher): string => `${m.name}${m.op}${/^[\w.-]*$/.test(m.value) ? m.value : JSON.stringify(m.value)}`;
