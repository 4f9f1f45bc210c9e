// The stack's health: NATS reachable, every JetStream stream present,
// ClickHouse answering, and every durable consumer moving. NATS, streams or
// ClickHouse failing make it unhealthy (not ready); a stalled or lagging
// consumer makes it degraded (still ready: it serves and catches up).
import type { ClickHouseClient } from "@clickhouse/client";
import type { JetStreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import type { Metrics } from "../observability/metrics.ts";
import type { ConsumerWatch } from "./consumer-watch.ts";
import { aggregate, statusValue, type HealthCheck, type HealthReport } from "./health-status.ts";

export interface HealthDeps {
  nc: NatsConnection;
  jsm: JetStreamManager;
  clickhouse: ClickHouseClient;
  streams: string[];
  consumers: ConsumerWatch;
  metrics: Metrics;
  timeoutMs: number;
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return Promise.race([p, new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms).unref())]);
}

export function createHealth(deps: HealthDeps) {
  async function nats(): Promise<HealthCheck> {
    if (deps.nc.isClosed()) return { name: "nats", status: "unhealthy", detail: "connection closed" };
    try {
      const rtt = await withTimeout(deps.nc.rtt(), deps.timeoutMs, "NATS");
      return { name: "nats", status: "healthy", detail: `round trip ${rtt} ms` };
    } catch (err) {
      return { name: "nats", status: "unhealthy", detail: (err as Error).message };
    }
  }

  async function streams(): Promise<HealthCheck> {
    const missing: string[] = [];
    for (const s of deps.streams) await withTimeout(deps.jsm.streams.info(s), deps.timeoutMs, "JetStream").catch(() => missing.push(s));
    return missing.length
      ? { name: "streams", status: "unhealthy", detail: `missing or unreadable: ${missing.join(", ")}` }
      : { name: "streams", status: "healthy", detail: `${deps.streams.length} streams` };
  }

  async function clickhouse(): Promise<HealthCheck> {
    try {
      await withTimeout(deps.clickhouse.query({ query: "SELECT 1", format: "JSONEachRow" }).then((r) => r.json()), deps.timeoutMs, "ClickHouse");
      return { name: "clickhouse", status: "healthy", detail: "answers" };
    } catch (err) {
      return { name: "clickhouse", status: "unhealthy", detail: (err as Error).message };
    }
  }

  return {
    async check(): Promise<HealthReport> {
      const report = aggregate([await nats(), await streams(), await clickhouse(), ...deps.consumers.checks()]);
      for (const c of report.checks) deps.metrics.healthStatus.set({ check: c.name }, statusValue(c.status));
      return report;
    },
  };
}
export type Health = ReturnType<typeof createHealth>;
