// Words for an alert, shared by every channel: a one-line summary, observed
// vs expected, the likely cause from its evidence, and the configured links.
// Names in an alert come from producers: each channel renders a copy passed
// through its own escaping (withSafeText), and links are built from the
// original alert (their values are URL-encoded).
import type { Alert } from "../../schemas/index.ts";
import type { NotifyConfig } from "../config/notify-config.ts";

const moneyLike = /^-?\d+(\.\d+)?$/;

/** "$12.34" for a decimal amount (trailing digits trimmed, at least cents); any other text as it is. */
export function money(v: string): string {
  if (!moneyLike.test(v)) return v;
  const [int, frac = ""] = v.replace(/^-/, "").split(".");
  const cents = frac.replace(/0+$/, "").padEnd(2, "0").slice(0, 6);
  return `${v.startsWith("-") ? "-" : ""}$${int}.${cents}`;
}

export const scopeText = (a: Alert): string =>
  Object.entries(a.scope_key)
    .filter(([k]) => k !== "tenant")
    .map(([k, v]) => `${k}=${v}`)
    .join(" ") || "whole tenant";

export function summary(a: Alert): string {
  const state = a.status === "resolved" ? "RESOLVED" : a.severity.toUpperCase();
  const factor = a.multiplier !== null ? ` (${a.multiplier.toFixed(1)}×)` : "";
  return `[${state}] ${a.type} · ${a.tenant} · ${scopeText(a)}: observed ${money(a.observed)} vs expected ${money(a.expected)}${factor}`;
}

/** The likely cause: the top model, operation, post and user of the window with their shares. */
export function cause(a: Alert): string {
  const parts: string[] = [];
  const top = (label: string, list: Alert["evidence"]["by_model"]) => {
    const c = list[0];
    if (c) parts.push(`${label} ${c.key} (${Math.round(c.share * 100)} %, ${money(c.cost_usd)})`);
  };
  top("model", a.evidence.by_model);
  top("operation", a.evidence.by_operation);
  top("post", a.evidence.by_post);
  top("user", a.evidence.by_user);
  return parts.length ? parts.join(", ") : "no breakdown in the window";
}

export const windowText = (a: Alert): string => `${a.window_start.replace("T", " ").slice(0, 19)} – ${a.window_end.slice(11, 19)} UTC`;

/** The configured link templates filled in for this alert (values URL-encoded). */
export function links(a: Alert, templates: NotifyConfig["links"]): { text: string; url: string }[] {
  const values: Record<string, string> = {
    ...a.scope_key,
    tenant: a.tenant,
    type: a.type,
    severity: a.severity,
    status: a.status,
    fingerprint: a.fingerprint,
    alert_id: a.id,
    scope: a.scope,
    window_start: a.window_start,
    window_end: a.window_end,
  };
  return templates.map((t) => ({
    text: t.text,
    url: t.url.replace(/\{([a-z_]+)\}/g, (_, k: string) => encodeURIComponent(values[k] ?? "")),
  }));
}

/** The notification's headline: one alert's summary, or a count for a group. */
export function headline(alerts: readonly Alert[], groupLabels: Record<string, string>): string {
  if (alerts.length === 1) return summary(alerts[0]!);
  const firing = alerts.filter((a) => a.status === "firing").length;
  const what = Object.values(groupLabels).filter(Boolean).join(" · ");
  const counts = [firing ? `${firing} firing` : "", alerts.length - firing ? `${alerts.length - firing} resolved` : ""]
    .filter(Boolean)
    .join(", ");
  return `[costline] ${counts}${what ? ` · ${what}` : ""}`;
}

/**
 * The alert with every text a producer or the detector put in it passed
 * through `safe` (a channel's escaping, pipeline/output/text-safety.ts);
 * numbers, times and ids are left alone. Used for what people read, never for
 * links or machine-readable payloads.
 */
export function withSafeText(a: Alert, safe: (s: string) => string): Alert {
  const list = (l: Alert["evidence"]["by_model"]) => l.map((c) => ({ ...c, key: safe(c.key) }));
  return {
    ...a,
    tenant: safe(a.tenant),
    scope: safe(a.scope),
    scope_key: Object.fromEntries(Object.entries(a.scope_key).map(([k, v]) => [k === "tenant" ? k : safe(k), safe(v)])),
    observed: safe(a.observed),
    expected: safe(a.expected),
    message: safe(a.message),
    evidence: {
      by_model: list(a.evidence.by_model),
      by_operation: list(a.evidence.by_operation),
      by_post: list(a.evidence.by_post),
      by_user: list(a.evidence.by_user),
    },
  };
}

/** Group labels (tenant, type, … values taken from alerts) through the same escaping. */
export const safeLabels = (labels: Record<string, string>, safe: (s: string) => string): Record<string, string> =>
  Object.fromEntries(Object.entries(labels).map(([k, v]) => [k, safe(v)]));
