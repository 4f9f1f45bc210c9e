// Prometheus metrics shared by every stage; the API serves them on /metrics.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: "costline_" });
  return {
    registry,
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
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
