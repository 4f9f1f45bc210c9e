// The Prometheus metric names the costline services export (the names agreed
// across the team; prefix costline_), and a small PromQL reader that lists the
// metric names an expression uses. The dashboards and the alert rules are
// checked against this list.

const counters = [
  "costline_stage_messages_total",
  "costline_stage_events_total",
  "costline_dlq_total",
  "costline_stage_restarts_total",
  "costline_unpriced_events_total",
  "costline_ledger_duplicates_total",
  "costline_cost_usd_total",
  "costline_api_requests_total",
  "costline_notify_deliveries_total",
];
const gauges = [
  "costline_stage_last_flush_timestamp_seconds",
  "costline_consumer_pending_messages",
  "costline_dlq_depth",
  "costline_health_status",
];
const histograms = [
  "costline_stage_flush_seconds",
  "costline_stage_batch_messages",
  "costline_clickhouse_insert_seconds",
  "costline_ledger_freshness_seconds",
  "costline_alert_latency_seconds",
  "costline_api_request_seconds",
  "costline_notify_latency_seconds",
];
/** prom-client's default process metrics under the costline_ prefix, and Prometheus's own `up`. */
const builtIn = [
  "costline_process_resident_memory_bytes",
  "costline_process_cpu_seconds_total",
  "costline_nodejs_eventloop_lag_seconds",
  "up",
];

/** Histograms also appear as _bucket, _sum and _count series. */
export const agreedMetrics: ReadonlySet<string> = new Set([
  ...counters,
  ...gauges,
  ...builtIn,
  ...histograms.flatMap((h) => [h, `${h}_bucket`, `${h}_sum`, `${h}_count`]),
]);

const promqlWords = new Set([
  "by",
  "without",
  "on",
  "ignoring",
  "group_left",
  "group_right",
  "bool",
  "and",
  "or",
  "unless",
  "offset",
  "inf",
  "nan",
  // aggregation operators, which may be followed by `by (…)` before their parenthesis
  "sum",
  "min",
  "max",
  "avg",
  "group",
  "stddev",
  "stdvar",
  "count",
  "count_values",
  "bottomk",
  "topk",
  "quantile",
]);

/** The metric names in a PromQL expression: identifiers that are not functions, keywords, labels or numbers. */
export function metricNames(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""') // label values
    .replace(/\{[^}]*\}/g, "") // label matchers
    .replace(/\[[^\]]*\]/g, "") // ranges, $__rate_interval
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, "$1") // label lists
    .replace(/\{\{[^}]*\}\}/g, ""); // template text, should any slip in
  return [...stripped.matchAll(/(?<![\w.$:])([a-zA-Z_:][\w:]*)(?![\w:])(?!\s*\()/g)]
    .map((m) => m[1]!)
    .filter((w) => !promqlWords.has(w.toLowerCase()));
}
