// A stateful stage as the partitions it holds leases on: for each acquired
// partition it starts the partition's loops (on that partition's own durable
// consumer, fenced by the lease), and on release it stops them — waiting until
// they settled — before the lease is given back. The stage's loop list shows
// as one RunningStage that ends when every partition was released.
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

export interface PartitionedStageOptions {
  group: string;
  kv: KV;
  instanceId: string;
  partitions: number;
  ttlMs: number;
  log: Logger;
  metrics?: LeaseMetrics;
  signal: AbortSignal;
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
      w.abort.abort();
      await Promise.allSettled(w.work.loops.map((l) => l.done));
      for (const l of w.work.loops) lastFlush = Math.max(lastFlush, l.lastFlushAt());
      await w.work.stop?.(reason);
    },
  });
  leases.start();
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
