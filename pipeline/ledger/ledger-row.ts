// Maps a priced event onto a row of costline.ledger: as an object
// (JSONEachRow), or as the values of `ledgerColumns` in order
// (JSONCompactEachRow), the sink's insert format — without a key name per
// value it is half the text to write and for ClickHouse to parse.
import type { PricedEvent } from "../../schemas/index.ts";

/**
 * An event's identity within its tenant, as the ledger's key holds it: the
 * sink's duplicate checks use it, so an event one tenant publishes under
 * another tenant's (source, id) is never taken for the other's.
 */
export function tenantEventKey(e: { tenant: string; source: string; event_id: string }): string {
  return `${e.tenant}\u0000${e.source}\u0000${e.event_id}`;
}

const canonicalIso = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

/** ClickHouse's basic DateTime64 text form, in UTC: "2026-11-22 10:00:00.123". */
export function chTime(iso: string): string {
  // A canonical UTC time (what pricing writes) is cut into shape, not parsed into a Date and printed again.
  if (iso.length === 24 && canonicalIso.test(iso)) return `${iso.slice(0, 10)} ${iso.slice(11, 23)}`;
  return new Date(iso).toISOString().replace("T", " ").replace("Z", "");
}

const int = (v: number | undefined) => Math.max(0, Math.round(v ?? 0));

export function ledgerRow(e: PricedEvent): Record<string, unknown> {
  return {
    event_id: e.event_id,
    source: e.source,
    type: e.type,
    kind: e.kind,
    time: chTime(e.time),
    tenant: e.tenant,
    provider: e.provider,
    model: e.model,
    model_requested: e.model_requested,
    category: e.category,
    post_id: e.post_id ?? "",
    persona_id: e.persona_id ?? "",
    user_id: e.user_id ?? "",
    feature: e.feature ?? "",
    operation: e.operation ?? "",
    trace_id: e.trace_id ?? "",
    correlation_id: e.correlation_id ?? "",
    request_id: e.request_id ?? "",
    tags: e.tags ?? {},
    input_tokens: int(e.usage.input_tokens),
    output_tokens: int(e.usage.output_tokens),
    cache_read_tokens: int(e.usage.cache_read_tokens),
    cache_write_tokens: int(e.usage.cache_write_tokens),
    usage: e.usage,
    batch: e.batch,
    latency_ms: e.latency_ms ?? null,
    status: e.status ?? "",
    cost_usd: e.cost_usd,
    revenue_usd: e.revenue_usd,
    priced: e.priced,
    unpriced_reason: e.unpriced_reason ?? "",
    price_source: e.price_source,
    price_version: e.price_version,
    catalog_version: e.catalog_version ?? "",
    components: JSON.stringify(e.components),
    attribution_method: e.attribution_method,
  };
}

/** The columns of `ledgerValues`, in order (the same as the keys of `ledgerRow`). */
export const ledgerColumns = [
  "event_id",
  "source",
  "type",
  "kind",
  "time",
  "tenant",
  "provider",
  "model",
  "model_requested",
  "category",
  "post_id",
  "persona_id",
  "user_id",
  "feature",
  "operation",
  "trace_id",
  "correlation_id",
  "request_id",
  "tags",
  "input_tokens",
  "output_tokens",
  "cache_read_tokens",
  "cache_write_tokens",
  "usage",
  "batch",
  "latency_ms",
  "status",
  "cost_usd",
  "revenue_usd",
  "priced",
  "unpriced_reason",
  "price_source",
  "price_version",
  "catalog_version",
  "components",
  "attribution_method",
] as const;

/** `ledgerRow(e)` as the values of `ledgerColumns`, in order. */
export function ledgerValues(e: PricedEvent): unknown[] {
  return [
    e.event_id,
    e.source,
    e.type,
    e.kind,
    chTime(e.time),
    e.tenant,
    e.provider,
    e.model,
    e.model_requested,
    e.category,
    e.post_id ?? "",
    e.persona_id ?? "",
    e.user_id ?? "",
    e.feature ?? "",
    e.operation ?? "",
    e.trace_id ?? "",
    e.correlation_id ?? "",
    e.request_id ?? "",
    e.tags ?? {},
    int(e.usage.input_tokens),
    int(e.usage.output_tokens),
    int(e.usage.cache_read_tokens),
    int(e.usage.cache_write_tokens),
    e.usage,
    e.batch,
    e.latency_ms ?? null,
    e.status ?? "",
    e.cost_usd,
    e.revenue_usd,
    e.priced,
    e.unpriced_reason ?? "",
    e.price_source,
    e.price_version,
    e.catalog_version ?? "",
    JSON.stringify(e.components),
    e.attribution_method,
  ];
}

/** The insert's data: one JSONCompactEachRow line per event (the values of `ledgerColumns`). */
export function ledgerInsertBody(events: readonly PricedEvent[]): string {
  let body = "";
  for (let i = 0; i < events.length; i++) body += (i ? "\n" : "") + JSON.stringify(ledgerValues(events[i]!));
  return body;
}
