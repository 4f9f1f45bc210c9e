// Watches durable consumers and the DLQ: each poll reads every watched
// consumer's info and the DLQ stream's per-subject counts, sets the
// consumer-lag and DLQ-depth gauges, and keeps a sample per consumer from
// which its health check is judged. A consumer is *stalled* when messages
// wait for it and its delivered position has not moved for `stallS`, or when
// messages handed out came back unacknowledged (redelivered after their ack
// wait, or refused) and its acknowledged position has not moved for `stallS`:
// a stage that pulled messages and froze, or one whose dependency is down.
// Holding messages on purpose is not stalling: the windower (until its windows
// close) and the notifier (while a group waits, with working()) stay within
// their ack wait, so nothing of theirs is redelivered. A consumer is
// *lagging* when more than `lagMessages` wait. The poll is driven by the health monitor (health.ts);
// this module has no timer of its own.
import type { JetStreamManager } from "@nats-io/jetstream";
import type { Logger } from "../observability/log.ts";
import type { Metrics } from "../observability/metrics.ts";
import { fromSubjectToken, streamNames } from "../nats/subjects.ts";
import type { HealthCheck } from "./health-status.ts";

export interface WatchedConsumer {
  /** The stage reading it (the metric and check are named after the stage). */
  stage: string;
  stream: string;
  durable: string;
}

export interface ConsumerSample {
  deliveredSeq: number;
  /** When the delivered position last moved, or when nothing last waited. */
  movedAt: number;
  ackFloorSeq: number;
  /** When the acknowledged position last moved, or when nothing was last unacknowledged. */
  ackMovedAt: number;
  /** Handed out, not acknowledged within the ack wait or refused, and handed out again. */
  redelivered: number;
  /** Messages not yet delivered to any instance. */
  pending: number;
  /** Delivered and not yet acknowledged. */
  ackPending: number;
  error?: string;
}

export interface StallThresholds {
  lagMessages: number;
  stallS: number;
}

interface ConsumerInfoLike {
  delivered: { stream_seq: number };
  ack_floor: { stream_seq: number };
  num_pending: number;
  num_ack_pending: number;
  num_redelivered: number;
}

/** The sample after a successful read: each clock restarts when its position moved or nothing waits for it. */
export function nextSample(prev: ConsumerSample | undefined, info: ConsumerInfoLike, now: number): ConsumerSample {
  const fresh = !prev || prev.error !== undefined;
  const delivered = info.delivered.stream_seq;
  const ackFloor = info.ack_floor.stream_seq;
  const moved = fresh || delivered !== prev.deliveredSeq || info.num_pending === 0;
  const acked = fresh || ackFloor !== prev.ackFloorSeq || info.num_ack_pending === 0;
  return {
    deliveredSeq: delivered,
    movedAt: moved ? now : prev.movedAt,
    ackFloorSeq: ackFloor,
    ackMovedAt: acked ? now : prev.ackMovedAt,
    redelivered: info.num_redelivered,
    pending: info.num_pending,
    ackPending: info.num_ack_pending,
  };
}

/** A consumer's check: unhealthy when its state cannot be read, degraded when stalled or lagging. */
export function judgeConsumer(stage: string, s: ConsumerSample | undefined, now: number, t: StallThresholds): HealthCheck {
  const name = `consumer:${stage}`;
  if (!s) return { name, status: "degraded", detail: "not polled yet" };
  if (s.error !== undefined) return { name, status: "unhealthy", detail: s.error };
  const stillS = Math.floor((now - s.movedAt) / 1000);
  if (s.pending > 0 && stillS >= t.stallS)
    return { name, status: "degraded", detail: `stalled: ${s.pending} messages waiting, no delivery for ${stillS} s` };
  const unackedS = Math.floor((now - s.ackMovedAt) / 1000);
  if (s.ackPending > 0 && s.redelivered > 0 && unackedS >= t.stallS)
    return {
      name,
      status: "degraded",
      detail: `stalled: ${s.ackPending} messages handed out and ${s.redelivered} redelivered, none acknowledged for ${unackedS} s`,
    };
  if (s.pending > t.lagMessages)
    return { name, status: "degraded", detail: `lagging: ${s.pending} messages waiting (threshold ${t.lagMessages})` };
  return { name, status: "healthy", detail: `${s.pending} waiting, ${s.ackPending} being handled` };
}

export interface ConsumerWatchOptions extends StallThresholds {
  jsm: JetStreamManager;
  consumers: readonly WatchedConsumer[];
  metrics: Metrics;
  log: Logger;
  /** `<prefix>.dlq`: the DLQ subjects are `<dlqPrefix>.<stage>`. */
  dlqPrefix: string;
  now?: () => number;
}

export function createConsumerWatch(opts: ConsumerWatchOptions) {
  const now = opts.now ?? Date.now;
  const samples = new Map<string, ConsumerSample>();
  const key = (c: WatchedConsumer) => `${c.stream}/${c.durable}`;

  // Side by side: in a NATS outage a pass takes one request timeout, not one per consumer (34 by default).
  async function pollConsumers(): Promise<void> {
    await Promise.all(opts.consumers.map(pollOne));
  }
  async function pollOne(c: WatchedConsumer): Promise<void> {
    try {
      const info = await opts.jsm.consumers.info(c.stream, c.durable);
      samples.set(key(c), nextSample(samples.get(key(c)), info, now()));
      opts.metrics.consumerPending.set({ stage: c.stage, stream: c.stream }, info.num_pending + info.num_ack_pending);
    } catch (err) {
      const t = now();
      samples.set(key(c), {
        deliveredSeq: -1,
        movedAt: t,
        ackFloorSeq: -1,
        ackMovedAt: t,
        redelivered: 0,
        pending: 0,
        ackPending: 0,
        error: `consumer ${c.durable} on ${c.stream}: ${(err as Error).message}`,
      });
    }
  }

  /** DLQ subjects seen so far (tokens after `<dlqPrefix>.`). */
  const dlqTokens = new Set<string>();
  async function pollDlq(): Promise<void> {
    try {
      const counts = (await opts.jsm.streams.info(streamNames.dlq, { subjects_filter: ">" })).state.subjects ?? {};
      for (const subject of Object.keys(counts))
        if (subject.startsWith(`${opts.dlqPrefix}.`)) dlqTokens.add(subject.slice(opts.dlqPrefix.length + 1));
      // A stage whose records were all retried or purged has no subject any more: it reads 0, not its last count.
      for (const token of dlqTokens)
        opts.metrics.dlqDepth.set({ stage: fromSubjectToken(token) }, counts[`${opts.dlqPrefix}.${token}`] ?? 0);
    } catch (err) {
      opts.log.debug({ err }, "could not read the DLQ's depth");
    }
  }

  return {
    async poll(): Promise<void> {
      await pollConsumers();
      await pollDlq();
    },
    checks(): HealthCheck[] {
      return opts.consumers.map((c) => judgeConsumer(c.stage, samples.get(key(c)), now(), opts));
    },
  };
}
export type ConsumerWatch = ReturnType<typeof createConsumerWatch>;
