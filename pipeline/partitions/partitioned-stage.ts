// A stateful stage as the partitions it holds leases on: for each acquired
// partition it starts the partition's loops (on that partition's own durable
// consumer, fenced by the lease), and on release it stops them — waiting until
// they settled — before the lease is given back. The stage's loop list shows
// as one RunningStage that ends when every partition was released.
//
// A watchdog checks each held partition's consumers: when messages wait
// (pending or handed out) and nothing was acknowledged for `stallMs` — a
// consumer that stopped pulling, a loop stuck on a call that never returns —
// the instance gives the partition's lease up (leases.giveUp) for another
// member to take over, and says so in its log and in
// costline_lease_changes_total{change="stalled"}.
import { setTimeout as sleep } from "node:timers/promises";
import type { KV } from "@nats-io/kv";
import type { Logger } from "../observability/log.ts";
import type { RunningStage } from "../runner/consumer-runner.ts";
import { createLeaseManager, type Fence, type LeaseManager, type ReleaseReason } from "../leases/lease-manager.ts";
import type { LeaseMetrics } from "../leases/lease-metrics.ts";

export interface PartitionWork {
  loops: RunningStage[];
  /** After the loops stopped: a graceful stop's last checkpoint, say, or (lost) passing held messages back. */
  stop?(reason: ReleaseReason): Promise<void>;
}

/** Where a partition's consumers stand: messages waiting (pending and handed out), and how far acknowledged. */
export interface PartitionProgress {
  waiting: number;
  /** Grows with every acknowledgement (the sum of the consumers' ack floors, say). */
  acked: number;
}

export interface PartitionedStageOptions {
  group: string;
  kv: KV;
  instanceId: string;
  /** Earlier, stopped lives of this instance whose leases it takes over at start (lease-manager.ts). */
  takeOverFrom?: readonly string[];
  partitions: number;
  ttlMs: number;
  log: Logger;
  metrics?: LeaseMetrics;
  signal: AbortSignal;
  /** The watchdog: a partition making no progress this long with messages waiting is given up (0 or absent: never). */
  stallMs?: number;
  /** Where the partition's consumers stand (required for the watchdog). */
  progress?(partition: number): Promise<PartitionProgress>;
  /** Starts one partition's work; its loops stop when `signal` aborts, and write only while `fence.held()`. */
  startPartition(partition: number, fence: Fence, signal: AbortSignal): Promise<PartitionWork>;
}

export function startPartitionedStage(opts: PartitionedStageOptions): RunningStage & { leases: LeaseManager } {
  const working = new Map<number, { abort: AbortController; work: PartitionWork }>();
  let lastFlush = Date.now();
  const leases = createLeaseManager({
    kv: opts.kv,
    group: opts.group,
    instanceId: opts.instanceId,
    takeOverFrom: opts.takeOverFrom,
    partitions: opts.partitions,
    ttlMs: opts.ttlMs,
    log: opts.log,
    metrics: opts.metrics,
    async onAcquired(p, fence) {
      const abort = new AbortController();
      const work = await opts.startPartition(p, fence, abort.signal);
      for (const l of work.loops) l.done.catch((err) => opts.log.error({ err, partition: p }, "a partition's loop failed"));
      working.set(p, { abort, work });
    },
    async onReleased(p, reason) {
      const w = working.get(p);
      if (!w) return;
      working.delete(p);
      watched.delete(p);
      w.abort.abort();
      const settled = Promise.allSettled(w.work.loops.map((l) => l.done));
      // A stalled partition's loops may never settle: they are fenced, so they are not waited for long.
      if (reason === "stalled") await Promise.race([settled, sleep(opts.ttlMs)]);
      else await settled;
      for (const l of w.work.loops) lastFlush = Math.max(lastFlush, l.lastFlushAt());
      await w.work.stop?.(reason === "stalled" ? "lost" : reason);
    },
  });
  leases.start();

  /** Per held partition: its last progress and since when it has not moved. */
  const watched = new Map<number, { acked: number; since: number }>();
  const stallMs = opts.stallMs ?? 0;
  async function watch(): Promise<void> {
    for (const p of leases.owned()) {
      if (!working.has(p)) continue;
      const at = await opts.progress!(p).catch(() => undefined);
      if (!at) continue;
      const last = watched.get(p);
      if (!last || at.acked !== last.acked || at.waiting === 0) {
        watched.set(p, { acked: at.acked, since: Date.now() });
        continue;
      }
      const stalled = Date.now() - last.since;
      if (stalled < stallMs) continue;
      opts.log.warn(
        { group: opts.group, partition: p, waiting: at.waiting, stalled_ms: stalled, instance: leases.instance },
        "partition made no progress with messages waiting; giving its lease up",
      );
      watched.delete(p);
      void leases.giveUp(p, Math.max(stallMs, 3 * opts.ttlMs));
    }
  }
  if (stallMs > 0 && opts.progress)
    void (async () => {
      while (!opts.signal.aborted) {
        await sleep(Math.max(500, Math.min(stallMs / 4, 5000)), undefined, { signal: opts.signal }).catch(() => undefined);
        if (!opts.signal.aborted) await watch().catch((err) => opts.log.warn({ err }, "partition watchdog pass failed"));
      }
    })();
  const done = new Promise<void>((resolve) => {
    const finish = () => void leases.stop().then(resolve, resolve);
    if (opts.signal.aborted) finish();
    else opts.signal.addEventListener("abort", finish, { once: true });
  });
  return {
    name: opts.group,
    done,
    lastFlushAt: () => Math.max(lastFlush, ...[...working.values()].flatMap((w) => w.work.loops.map((l) => l.lastFlushAt()))),
    leases,
  };
}
