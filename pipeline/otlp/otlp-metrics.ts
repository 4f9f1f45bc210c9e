// Counters of the OTLP receiver, on the API's registry: spans by what became of
// them and requests by their answer.
import { Counter, type Registry } from "prom-client";

export interface OtlpMetrics {
  spans: Counter<"result">;
  requests: Counter<"status">;
}

const byRegistry = new WeakMap<Registry, OtlpMetrics>();

export function otlpMetrics(registry: Registry): OtlpMetrics {
  let m = byRegistry.get(registry);
  if (!m) {
    m = {
      spans: new Counter({
        name: "costline_otlp_spans_total",
        help: "Spans received on /v1/traces: llm (became a usage event), skipped (not an LLM call), rejected (an LLM span that could not be read)",
        labelNames: ["result"] as const,
        registers: [registry],
      }),
      requests: new Counter({
        name: "costline_otlp_requests_total",
        help: "OTLP/HTTP export requests, by HTTP status answered",
        labelNames: ["status"] as const,
        registers: [registry],
      }),
    };
    byRegistry.set(registry, m);
  }
  return m;
}
