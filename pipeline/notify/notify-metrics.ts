// The notifier's Prometheus metrics, on the shared registry:
//   costline_notify_deliveries_total{channel,result}  result: delivered, retried, failed, suppressed
//   costline_notify_latency_seconds{channel}          alert published → the receiver's 2xx
import { Counter, Histogram, type Registry } from "prom-client";

export function createNotifyMetrics(registry: Registry) {
  const existing = registry.getSingleMetric("costline_notify_deliveries_total");
  if (existing) {
    registry.removeSingleMetric("costline_notify_deliveries_total");
    registry.removeSingleMetric("costline_notify_latency_seconds");
  }
  return {
    deliveries: new Counter({
      name: "costline_notify_deliveries_total",
      help: "Alert deliveries per channel: delivered, retried (an attempt failed and will be retried), failed (dead-lettered), suppressed",
      labelNames: ["channel", "result"] as const,
      registers: [registry],
    }),
    latency: new Histogram({
      name: "costline_notify_latency_seconds",
      help: "From the alert's publish on the alerts stream to the receiver's 2xx",
      labelNames: ["channel"] as const,
      buckets: [0.05, 0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10, 30, 60, 300],
      registers: [registry],
    }),
  };
}
export type NotifyMetrics = ReturnType<typeof createNotifyMetrics>;
