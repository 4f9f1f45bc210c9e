// Maps a priced event onto a row of costline.ledger (JSONEachRow).
import type { PricedEvent } from "../../schemas/index.ts";

export function eventKey(e: { source: string; event_id: string }): string {
  return `${e.source}\u0000${e.event_id}`;
}

/** ClickHouse's basic DateTime64 text form, in UTC: "2026-11-22 10:00:00.123". */
export function chTime(iso: string): string {
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
