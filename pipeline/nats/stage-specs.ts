// Every pipeline stage as data: what it reads (stream, durable consumer and
// its settings, partitioned or shared), how its loops batch and flush, what it
// does with ClickHouse, and one line for the CLI. The topology (which
// consumers exist), health (which consumers are watched), the lease watchdog
// (which consumers a partition's progress is read from), the stage factories'
// runner settings and `costline run --help` are all derived from this table
// (loops on a timer, like the allocator's, are the factories' own):
// partitioning a stage, renaming a consumer or changing a batch knob is a
// change of one entry here.
//
// Kept free of the NATS client so the CLI can print its help without loading
// it: the deliver policy is the wire's own string.
import type { Config } from "../config/config.ts";
import { streamNames, type Subjects } from "./subjects.ts";

export const durableNames = {
  enrich: "enrich",
  ledger: "ledger",
  alertsLedger: "alerts-ledger",
  windower: "windower",
  detector: "detector",
  /** The detector's post lane: post windows only, apart from the spike and budget checks. */
  detectorPosts: "detector-posts",
  notifier: "notifier",
} as const;

/** A partitioned stage's consumer of one partition: `<durable>-p<n>`. */
export const partitionedDurable = (durable: string, partition: number) => `${durable}-p${partition}`;

/** How one loop of a stage reads its stream, and how it batches. */
export interface ConsumerSpec {
  /** The loop's name in logs, metrics and `loop:<name>` health. */
  loop: string;
  stream: (typeof streamNames)[keyof typeof streamNames];
  /** The durable consumer's name; per partition `<durable>-p<n>` when the stage is partitioned. */
  durable: string;
  /** Its filter: the whole stream (`partition` undefined), or one partition's subjects. */
  filter(subjects: Subjects, partition: number | undefined): string;
  /** Consumer settings other than the defaults (COSTLINE_ACK_WAIT_S, deliver all, 100,000 pending). */
  settings?(config: Config): { ackWaitS?: number; deliverPolicy?: "all" | "new"; maxAckPending?: number };
  /** The runner's batch knobs for this loop. */
  batch(config: Config): { maxBatch: number; flushMs: number; lingerMs?: number; maxBatchBytes?: number; concurrency?: number };
}

export interface StageSpec {
  /** One line for `costline run --help`. */
  summary: string;
  /** Owns partitions through leases (group = the stage's name): one consumer per partition for each entry of `consumers`. */
  partitioned: boolean;
  consumers: readonly ConsumerSpec[];
  clickhouse: "none" | "reads" | "writes" | "reads and writes";
}

/**
 * Input bytes per enrich batch: with 100-event messages a batch of 500
 * messages would be 50,000 events, priced and published before any is
 * acknowledged; about a megabyte keeps a batch to a few thousand events.
 */
export const ENRICH_BATCH_BYTES = 1 << 20;

const all = (stream: keyof Subjects["all"]) => (s: Subjects) => s.all[stream];

export const stageSpecs = {
  enrich: {
    summary: "validate and price events; publish them to the priced subjects of their tenant's partition",
    partitioned: false,
    consumers: [
      {
        loop: "enrich",
        stream: streamNames.events,
        durable: durableNames.enrich,
        filter: all("events"),
        batch: (c) => ({
          maxBatch: c.enrich.batch,
          flushMs: c.enrich.flushMs,
          maxBatchBytes: ENRICH_BATCH_BYTES,
          concurrency: c.enrich.concurrency,
        }),
      },
    ],
    clickhouse: "reads",
  },
  ledger: {
    summary: "store priced events in the ClickHouse ledger exactly once (and its rollups)",
    partitioned: true,
    consumers: [
      {
        loop: "ledger",
        stream: streamNames.priced,
        durable: durableNames.ledger,
        filter: (s, p) => (p === undefined ? s.all.priced : s.pricedPartition(p)),
        // Two batches in flight: the next one is parsed while the current one is inserted.
        batch: (c) => ({ maxBatch: c.ledger.batchMessages, flushMs: c.ledger.flushMs, lingerMs: c.ledger.lingerMs, concurrency: 2 }),
      },
    ],
    clickhouse: "reads and writes",
  },
  windower: {
    summary: "sum priced events into event-time windows per scope; publish open and final windows",
    partitioned: true,
    consumers: [
      {
        loop: "windower",
        stream: streamNames.priced,
        durable: durableNames.windower,
        filter: (s, p) => (p === undefined ? s.all.priced : s.pricedPartition(p)),
        // A message is held only until the next checkpoint of its partition is durable.
        settings: (c) => ({ maxAckPending: c.windows.maxPending }),
        batch: () => ({ maxBatch: 200, flushMs: 20 }),
      },
    ],
    clickhouse: "none",
  },
  detector: {
    summary: "judge windows (spikes, budgets, efficiency, ROI); raise and resolve alerts; apply controls",
    partitioned: true,
    // Two lanes per partition (detector-stage.ts): every scope on the main lane, which skips post
    // windows, so spike and budget checks never wait behind them; post windows alone on the post lane.
    consumers: [
      {
        loop: "detector",
        stream: streamNames.windows,
        durable: durableNames.detector,
        filter: (s, p) => (p === undefined ? s.all.windows : s.windowsPartition(p)),
        batch: () => ({ maxBatch: 50, flushMs: 5 }),
      },
      {
        loop: "detector-posts",
        stream: streamNames.windows,
        durable: durableNames.detectorPosts,
        filter: (s, p) => (p === undefined ? s.all.windows : s.windowsPartition(p, "post")),
        batch: () => ({ maxBatch: 20, flushMs: 20 }),
      },
    ],
    clickhouse: "reads and writes",
  },
  "alert-store": {
    summary: "store alerts in ClickHouse for the API and the console",
    partitioned: false,
    consumers: [
      {
        loop: "alert-store",
        stream: streamNames.alerts,
        durable: durableNames.alertsLedger,
        filter: all("alerts"),
        batch: () => ({ maxBatch: 500, flushMs: 50 }),
      },
    ],
    clickhouse: "writes",
  },
  allocator: {
    summary: "split shared costs (vector DB, GPU, …) across the posts active in their window",
    // Leases on the tenants' partitions (no consumer: it reads the ledger on a timer).
    partitioned: true,
    consumers: [],
    clickhouse: "reads and writes",
  },
  // Always part of `up`: with no channel configured it acknowledges alerts and sends nothing,
  // so configuring a channel later does not replay a backlog of stale alerts.
  notifier: {
    summary: "deliver alerts to Slack, PagerDuty, e-mail and webhooks, grouped and escalated",
    partitioned: false,
    consumers: [
      {
        loop: "notifier",
        stream: streamNames.alerts,
        durable: durableNames.notifier,
        filter: all("alerts"),
        // It holds an alert while it waits in its group and is delivered, keeping it alive with
        // working(); a short ack wait brings it back soon after a crash. Created on a stream that
        // already holds alerts, it starts with new ones (no storm of old alerts).
        settings: (c) => ({ ackWaitS: c.notify.ackWaitS, deliverPolicy: "new" }),
        batch: () => ({ maxBatch: 100, flushMs: 5 }),
      },
    ],
    clickhouse: "writes",
  },
} as const satisfies Record<string, StageSpec>;

export type StageName = keyof typeof stageSpecs;
export const stageNames = Object.keys(stageSpecs) as StageName[];

/** One durable consumer as it exists on the server: a spec's consumer, for one partition or for all. */
export interface ConsumerInstance {
  /** What health calls it: the loop's name, `<durable>-p<n>` for a partition. */
  stage: string;
  stream: string;
  durable: string;
  filter: string;
  /** The stage it belongs to, when it is one partition's consumer of it. */
  partOf?: StageName;
  spec: ConsumerSpec;
}

/** One partition's consumers of a partitioned stage (what its lease watchdog reads progress from). */
export function partitionConsumers(stage: StageName, subjects: Subjects, partition: number): ConsumerInstance[] {
  return stageSpecs[stage].consumers.map((spec) => {
    const durable = partitionedDurable(spec.durable, partition);
    return { stage: durable, stream: spec.stream, durable, filter: spec.filter(subjects, partition), partOf: stage, spec };
  });
}

/** Every durable consumer of the pipeline, derived from the table: partitioned stages once per partition. */
export function consumerInstances(subjects: Subjects, partitions: number): ConsumerInstance[] {
  return stageNames.flatMap((stage): ConsumerInstance[] => {
    const spec: StageSpec = stageSpecs[stage];
    if (!spec.partitioned)
      return spec.consumers.map((c) => ({
        stage: c.loop,
        stream: c.stream,
        durable: c.durable,
        filter: c.filter(subjects, undefined),
        spec: c,
      }));
    return Array.from({ length: partitions }, (_, p) => partitionConsumers(stage, subjects, p)).flat();
  });
}

/** The stages for `costline run --help`: name and summary, one per line. */
export function stagesHelp(): string {
  const width = Math.max(...stageNames.map((n) => n.length));
  return stageNames.map((n) => `  ${n.padEnd(width)}  ${stageSpecs[n].summary}`).join("\n");
}
