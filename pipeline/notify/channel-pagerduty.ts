// PagerDuty Events API v2: one event per alert — `trigger` for a firing alert,
// `resolve` for a resolved one — with dedup_key = the alert's fingerprint, so
// PagerDuty keeps one incident per (type, scope) and drops a repeated trigger
// into the open incident. Answers: 202 accepted, 400 invalid (final), 429
// throttled and 5xx (retried).
import type { Alert } from "../../schemas/index.ts";
import type { Channel } from "./channel.ts";
import { postJson } from "./http-post.ts";
import type { NotifyConfig, ResolvedChannel } from "../config/notify-config.ts";
import { cause, links, summary, withSafeText } from "./render.ts";
import { plainReadableText } from "../output/text-safety.ts";

const pdSeverity = { critical: "critical", high: "error", medium: "warning", info: "info" } as Record<string, string>;

export function pagerdutyEvent(a: Alert, routingKey: string, templates: NotifyConfig["links"]): Record<string, unknown> {
  if (a.status === "resolved") return { routing_key: routingKey, event_action: "resolve", dedup_key: a.fingerprint };
  // What responders read (summary, source, group, message, cause) cannot become a link; `scope` keeps the exact keys for tooling.
  const shown = withSafeText(a, plainReadableText);
  return {
    routing_key: routingKey,
    event_action: "trigger",
    dedup_key: a.fingerprint,
    client: "costline",
    payload: {
      summary: summary(shown).slice(0, 1024),
      source: `costline/${shown.tenant}`,
      severity: pdSeverity[a.severity] ?? "warning",
      timestamp: a.detected_at,
      component: shown.scope,
      group: shown.tenant,
      class: a.type,
      custom_details: {
        message: shown.message,
        observed: a.observed,
        expected: a.expected,
        multiplier: a.multiplier,
        score: a.score,
        scope: a.scope_key,
        window_start: a.window_start,
        window_end: a.window_end,
        first_seen: a.first_seen,
        likely_cause: cause(shown),
        alert_id: a.id,
      },
    },
    links: links(a, templates).map((l) => ({ href: l.url, text: l.text })),
  };
}

export function createPagerdutyChannel(
  c: Extract<ResolvedChannel, { type: "pagerduty" }>,
  opts: { timeoutMs: number; links: NotifyConfig["links"] },
): Channel {
  return {
    name: c.name,
    type: "pagerduty",
    batchable: false,
    sendResolved: c.sendResolved,
    onUncertain: c.onUncertain,
    async send(n, signal) {
      const body = JSON.stringify(pagerdutyEvent(n.alerts[0]!, c.routingKey, opts.links));
      const res = await postJson(c.url, body, { timeoutMs: opts.timeoutMs, signal, secrets: [c.routingKey] });
      return { status: res.status };
    },
  };
}
