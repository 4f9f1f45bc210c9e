// A process's health: NATS reachable, every JetStream stream present,
// ClickHouse answering (when this process uses it), and every durable
// consumer it watches moving, and every stage loop running (not restarting or
// given up; see loop-checks.ts). NATS, streams or ClickHouse failing make it
// unhealthy (not ready); a stalled or lagging consumer makes it degraded
// (still ready: it serves and catches up). The monitor polls on an interval
// so the gauges (lag, DLQ depth, costline_health_status) stay current even
// when nobody asks /readyz.
import { setTimeout as sleep } from "node:timers/promises";
import type { ClickHouseClient } from "@clickhouse/client";
import type { JetStreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import type { Logger } from "../observability/log.ts";
import type { Metrics } from "../observability/metrics.ts";
import { scrubSecrets } from "../observability/log.ts";
import { onConnectionChange } from "../nats/connect.ts";
import type { ConsumerWatch } from "./consumer-watch.ts";
import { aggregate, statusValue, type HealthCheck, type HealthReport } from "./health-status.ts";

export interface HealthDeps {
  nc: NatsConnection;
  jsm: JetStreamManager;
  /** Absent in a process whose stages never touch ClickHouse: no check then. */
  clickhouse?: ClickHouseClient;
  streams: readonly string[];
  consumers: ConsumerWatch;
  /** The stage loops' own checks (loop-checks.ts): running, restarting or given up. */
  loops?: () => HealthCheck[];
  metrics: Metrics;
  timeoutMs: number;
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<T>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms);
    timer.unref();
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/** An error's message fit for a probe's answer: one line, no credentials (a URL may carry them). */
const detailOf = (err: unknown) => scrubSecrets((err instanceof Error ? err.message : String(err)).split("\n")[0]!.slice(0, 300));

export function createHealth(deps: HealthDeps) {
  // While the client is reconnecting, a round trip or stream info would only wait out its timeout:
  // the probe answers unhealthy at once instead (a readiness probe's own timeout is often 1 s).
  let disconnectedAt: number | undefined;
  onConnectionChange(deps.nc, (downSince) => (disconnectedAt = downSince === undefined ? undefined : (disconnectedAt ?? downSince)));
  const disconnected = (): HealthCheck | undefined =>
    disconnectedAt === undefined
      ? undefined
      : {
          name: "nats",
          status: "unhealthy",
          detail: `disconnected for ${Math.round((Date.now() - disconnectedAt) / 1000)} s, reconnecting`,
        };

  async function nats(): Promise<HealthCheck> {
    if (deps.nc.isClosed()) return { name: "nats", status: "unhealthy", detail: "connection closed" };
    const down = disconnected();
    if (down) return down;
    try {
      const rtt = await withTimeout(deps.nc.rtt(), deps.timeoutMs, "NATS");
      return { name: "nats", status: "healthy", detail: `round trip ${rtt} ms` };
    } catch (err) {
      return { name: "nats", status: "unhealthy", detail: detailOf(err) };
    }
  }

  async function streams(): Promise<HealthCheck> {
    if (disconnected()) return { name: "streams", status: "unhealthy", detail: "not checked: NATS is disconnected" };
    // Asked side by side, so an outage answers within one timeout, not one per stream.
    const answers = await Promise.all(
      deps.streams.map((s) =>
        withTimeout(deps.jsm.streams.info(s), deps.timeoutMs, "JetStream").then(
          () => undefined,
          () => s,
        ),
      ),
    );
    const missing = answers.filter((s): s is string => s !== undefined);
    return missing.length
      ? { name: "streams", status: "unhealthy", detail: `missing or unreadable: ${missing.join(", ")}` }
      : { name: "streams", status: "healthy", detail: `${deps.streams.length} streams` };
  }

  async function clickhouse(client: ClickHouseClient): Promise<HealthCheck> {
    try {
      await withTimeout(
        client.query({ query: "SELECT 1", format: "JSONEachRow" }).then((r) => r.json()),
        deps.timeoutMs,
        "ClickHouse",
      );
      return { name: "clickhouse", status: "healthy", detail: "answers" };
    } catch (err) {
      return { name: "clickhouse", status: "unhealthy", detail: detailOf(err) };
    }
  }

  return {
    async check(): Promise<HealthReport> {
      const [n, s, ch] = await Promise.all([nats(), streams(), deps.clickhouse ? clickhouse(deps.clickhouse) : undefined]);
      const report = aggregate([n, s, ...(ch ? [ch] : []), ...deps.consumers.checks(), ...(deps.loops?.() ?? [])]);
      for (const c of report.checks) deps.metrics.healthStatus.set({ check: c.name }, statusValue(c.status));
      return report;
    },
  };
}
export type Health = ReturnType<typeof createHealth>;

/**
 * Polls the consumers and runs the checks every `intervalMs` until stopped:
 * the timer only wakes the loop, so two passes never overlap.
 */
export function startHealthMonitor(opts: { health: Health; consumers: ConsumerWatch; intervalMs: number; log: Logger }) {
  const abort = new AbortController();
  const pass = async () => {
    await opts.consumers.poll();
    await opts.health.check();
  };
  const first = pass().catch((err) => opts.log.warn({ err }, "health pass failed"));
  const done = (async () => {
    await first;
    while (!abort.signal.aborted) {
      await sleep(opts.intervalMs, undefined, { signal: abort.signal }).catch(() => undefined);
      if (abort.signal.aborted) break;
      await pass().catch((err) => opts.log.warn({ err }, "health pass failed"));
    }
  })();
  return {
    /** Resolves after the first pass, so a probe right after start sees real checks. */
    ready: first,
    async stop(): Promise<void> {
      abort.abort();
      await done;
    },
  };
}
