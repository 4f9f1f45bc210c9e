// Watches the pipeline's durable consumers and the DLQ on an interval: the
// consumer-lag and DLQ-depth gauges, and whether a consumer is stalled (it has
// undelivered messages and has not moved for `stallS`) or lagging (more
// undelivered messages than `lagMessages`). Health reads the latest verdicts.
import type { JetStreamManager } from "@nats-io/jetstream";
import type { Logger } from "../observability/log.ts";
import type { Metrics } from "../observability/metrics.ts";
import { streamNames } from "../nats/subjects.ts";
import type { HealthCheck } from "./health-status.ts";

export interface WatchedConsumer {
  stream: string;
  durable: string;
}

export interface ConsumerWatchOptions {
  jsm: JetStreamManager;
  consumers: WatchedConsumer[];
  metrics: Metrics;
  log: Logger;
  intervalMs: number;
  lagMessages: number;
  stallS: number;
  dlqPrefix: string;
  now?: () => number;
}

interface Seen {
  deliveredSeq: number;
  movedAt: number;
  pending: number;
  error?: string;
}

export function startConsumerWatch(opts: ConsumerWatchOptions) {
  const now = opts.now ?? Date.now;
  const seen = new Map<string, Seen>();

  async function poll(): Promise<void> {
    for (const c of opts.consumers) {
      const id = `${c.stream}/${c.durable}`;
      try {
        const info = await opts.jsm.consumers.info(c.stream, c.durable);
        const prev = seen.get(id);
        const delivered = info.delivered.stream_seq;
        const movedAt = !prev || delivered !== prev.deliveredSeq || info.num_pending === 0 ? now() : prev.movedAt;
        seen.set(id, { deliveredSeq: delivered, movedAt, pending: info.num_pending });
        opts.metrics.consumerPending.set({ stage: c.durable, stream: c.stream }, info.num_pending + info.num_ack_pending);
      } catch (err) {
        seen.set(id, { deliveredSeq: -1, movedAt: now(), pending: 0, error: (err as Error).message });
      }
    }
    try {
      const dlq = await opts.jsm.streams.info(streamNames.dlq, { subjects_filter: ">" });
      for (const [subject, n] of Object.entries(dlq.state.subjects ?? {}))
        opts.metrics.dlqDepth.set({ stage: subject.slice(opts.dlqPrefix.length + 1) }, n);
    } catch (err) {
      opts.log.debug({ err }, "could not read the DLQ's depth");
    }
  }

  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const loop = async () => {
    await poll().catch((err) => opts.log.warn({ err }, "consumer watch failed"));
    if (!stopped) timer = setTimeout(loop, opts.intervalMs);
  };
  const first = loop();

  return {
    ready: first,
    poll,
    /** One check per consumer: unhealthy when its info cannot be read, degraded when stalled or lagging. */
    checks(): HealthCheck[] {
      return opts.consumers.map((c) => {
        const id = `${c.stream}/${c.durable}`;
        const s = seen.get(id);
        const name = `consumer:${c.durable}`;
        if (!s) return { name, status: "degraded", detail: "not polled yet" };
        if (s.error) return { name, status: "unhealthy", detail: s.error };
        const stalledS = Math.round((now() - s.movedAt) / 1000);
        if (s.pending > 0 && stalledS >= opts.stallS) return { name, status: "degraded", detail: `stalled: ${s.pending} messages waiting, no delivery for ${stalledS} s` };
        if (s.pending > opts.lagMessages) return { name, status: "degraded", detail: `lagging: ${s.pending} messages waiting (threshold ${opts.lagMessages})` };
        return { name, status: "healthy", detail: `${s.pending} waiting` };
      });
    },
    stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
    },
  };
}
export type ConsumerWatch = ReturnType<typeof startConsumerWatch>;
