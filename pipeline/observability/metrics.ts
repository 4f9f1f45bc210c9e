// Prometheus metrics shared by every stage; each process serves them on
// /metrics (the API's port, or COSTLINE_METRICS_PORT for a stage run alone).
// Names are agreed with the Prometheus rules and Grafana boards in deploy/.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

export interface MetricLimits {
  /** Distinct tenants and models named in costline_cost_usd_total; later ones are counted as "other". */
  maxTenants: number;
  maxModels: number;
}

export function createMetrics(limits: MetricLimits = { maxTenants: 50, maxModels: 50 }) {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: "costline_" });
  const costUsd = new Counter({
    name: "costline_cost_usd_total",
    help: `Cost stored in the ledger, by tenant and model (the first ${limits.maxTenants} tenants and ${limits.maxModels} models seen; the rest as "other"). A float for dashboards: the ledger holds the exact amounts`,
    labelNames: ["tenant", "model"] as const,
    registers: [registry],
  });
  const tenantLabel = boundedLabel(limits.maxTenants);
  const modelLabel = boundedLabel(limits.maxModels);
  return {
    registry,
    /** Adds a stored cost to costline_cost_usd_total under bounded labels (credits are left out: a counter only goes up). */
    addCost(tenant: string, model: string, usd: number): void {
      if (usd > 0) costUsd.inc({ tenant: tenantLabel(tenant), model: modelLabel(model) }, usd);
    },
    messages: new Counter({
      name: "costline_stage_messages_total",
      help: "Messages handled by a stage, by outcome (ack, retry, dead)",
      labelNames: ["stage", "outcome"] as const,
      registers: [registry],
    }),
    events: new Counter({
      name: "costline_stage_events_total",
      help: "Events handled by a stage, by result",
      labelNames: ["stage", "result"] as const,
      registers: [registry],
    }),
    stageRestarts: new Counter({
      name: "costline_stage_restarts_total",
      help: "Restarts of a stage's loop after it failed (runner/supervisor.ts), by loop",
      labelNames: ["loop"] as const,
      registers: [registry],
    }),
    dlq: new Counter({
      name: "costline_dlq_total",
      help: "Records sent to the dead-letter queue, by stage and reason",
      labelNames: ["stage", "reason"] as const,
      registers: [registry],
    }),
    unpriced: new Counter({
      name: "costline_unpriced_events_total",
      help: "Events stored with an unknown cost, by provider and model",
      labelNames: ["provider", "model"] as const,
      registers: [registry],
    }),
    flushSeconds: new Histogram({
      name: "costline_stage_flush_seconds",
      help: "Time to handle one batch",
      labelNames: ["stage"] as const,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    }),
    batchSize: new Histogram({
      name: "costline_stage_batch_messages",
      help: "Messages per handled batch",
      labelNames: ["stage"] as const,
      buckets: [1, 10, 50, 100, 500, 1000, 5000],
      registers: [registry],
    }),
    ledgerDuplicates: new Counter({
      name: "costline_ledger_duplicates_total",
      help: "Events dropped by the ledger sink because they were already stored or repeated in a batch",
      labelNames: ["where"] as const,
      registers: [registry],
    }),
    lastFlush: new Gauge({
      name: "costline_stage_last_flush_timestamp_seconds",
      help: "When a stage last handled a batch successfully",
      labelNames: ["stage"] as const,
      registers: [registry],
    }),
    consumerPending: new Gauge({
      name: "costline_consumer_pending_messages",
      help: "Messages a durable consumer has not finished: undelivered plus awaiting acknowledgement",
      labelNames: ["stage", "stream"] as const,
      registers: [registry],
    }),
    dlqDepth: new Gauge({
      name: "costline_dlq_depth",
      help: "Records in the dead-letter stream, by the stage that wrote them",
      labelNames: ["stage"] as const,
      registers: [registry],
    }),
    healthStatus: new Gauge({
      name: "costline_health_status",
      help: "Each health check: 0 healthy, 1 degraded, 2 unhealthy",
      labelNames: ["check"] as const,
      registers: [registry],
    }),
    clickhouseInsertSeconds: new Histogram({
      name: "costline_clickhouse_insert_seconds",
      help: "Time of one ClickHouse insert, by table",
      labelNames: ["table"] as const,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    ledgerFreshness: new Histogram({
      name: "costline_ledger_freshness_seconds",
      help: "From an event's time to its row in the ledger (events up to ten minutes old; older ones are backfills)",
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300],
      registers: [registry],
    }),
    alertLatency: new Histogram({
      name: "costline_alert_latency_seconds",
      help: "From the windower publishing a window to the detector publishing the alert it raised",
      labelNames: ["type"] as const,
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5],
      registers: [registry],
    }),
    costUsd,
    apiRequests: new Counter({
      name: "costline_api_requests_total",
      help: "API requests by route pattern and status",
      labelNames: ["route", "status"] as const,
      registers: [registry],
    }),
    apiRequestSeconds: new Histogram({
      name: "costline_api_request_seconds",
      help: "API request duration by route pattern",
      labelNames: ["route"] as const,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;

/**
 * Label values kept to the first `max` distinct ones; later ones become
 * "other", so a label's cardinality is at most max + 1 however many tenants
 * or models appear. First come, not top spenders: a series, once named,
 * keeps its name for the life of the process (Prometheus needs that).
 */
export function boundedLabel(max: number) {
  const kept = new Set<string>();
  return (value: string): string => {
    if (kept.has(value)) return value;
    if (kept.size < max) {
      kept.add(value);
      return value;
    }
    return "other";
  };
}
