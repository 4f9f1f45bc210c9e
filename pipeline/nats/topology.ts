// Streams, durable consumers and KV buckets as code, applied idempotently at
// start: created when missing, updated when their config drifted.
import {
  AckPolicy,
  DeliverPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  DiscardPolicy,
  RetentionPolicy,
  StorageType,
  type JetStreamManager,
} from "@nats-io/jetstream";
import { nanos, type NatsConnection } from "@nats-io/nats-core";
import type { Config } from "../config/config.ts";
import { createSubjects, kvBuckets, partitionBuckets, streamNames } from "./subjects.ts";
import { allPartitions } from "./partition.ts";
import { ensureNotifyBuckets } from "./notify-buckets.ts";
import { ensureKvBucket, retryOnTimeout } from "./replicas.ts";

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

/** The stages that own partitions of the priced subjects: one durable consumer per partition, `<durable>-p<n>`. */
export const partitionedStages = ["ledger", "windower"] as const;

/** The detector owns partitions of the windows subjects: two lanes, each a durable consumer per partition. */
export const windowLanes = ["detector", "detectorPosts"] as const;

/** The durable consumer of one partition of a partitioned stage (or lane). */
export const partitionDurable = (stage: (typeof partitionedStages)[number] | (typeof windowLanes)[number], partition: number) =>
  `${durableNames[stage]}-p${partition}`;

/**
 * Every durable consumer of the pipeline, with its stream and the stage that
 * reads it: what health watches. The partitioned stages have one per partition
 * (`ledger-p0` … , part of `ledger`).
 */
export function pipelineConsumersFor(partitions: number): readonly { stage: string; stream: string; durable: string; partOf?: string }[] {
  return [
    { stage: "enrich", stream: streamNames.events, durable: durableNames.enrich },
    ...partitionedStages.flatMap((stage) =>
      allPartitions(partitions).map((p) => ({
        stage: partitionDurable(stage, p),
        stream: streamNames.priced,
        durable: partitionDurable(stage, p),
        partOf: stage,
      })),
    ),
    ...allPartitions(partitions).flatMap((p) =>
      windowLanes.map((lane) => ({
        stage: partitionDurable(lane, p),
        stream: streamNames.windows,
        durable: partitionDurable(lane, p),
        partOf: "detector",
      })),
    ),
    ...pipelineConsumers.slice(1),
  ];
}

/** The consumers that are not partitioned (see pipelineConsumersFor for all of them). */
export const pipelineConsumers = [
  { stage: "enrich", stream: streamNames.events, durable: durableNames.enrich },
  { stage: "alert-store", stream: streamNames.alerts, durable: durableNames.alertsLedger },
  { stage: "notifier", stream: streamNames.alerts, durable: durableNames.notifier },
] as const;

interface StreamSpec {
  name: string;
  subjects: string[];
  maxAgeHours: number;
  maxMessages?: number;
  maxBytes?: number;
}

export function streamSpecs(config: Config): StreamSpec[] {
  const s = createSubjects(config.subjects.prefix).all;
  const age = config.streams.maxAgeHours;
  return [
    { name: streamNames.events, subjects: [s.events], maxAgeHours: age },
    { name: streamNames.priced, subjects: [s.priced], maxAgeHours: age },
    { name: streamNames.windows, subjects: [s.windows], maxAgeHours: age },
    { name: streamNames.alerts, subjects: [s.alerts], maxAgeHours: age * 4 },
    // The DLQ keeps a month by default so nothing is lost before someone looks; its limits are configurable.
    {
      name: streamNames.dlq,
      subjects: [s.dlq],
      maxAgeHours: config.dlq.maxAgeHours,
      maxMessages: config.dlq.maxMessages,
      maxBytes: config.dlq.maxBytes,
    },
  ];
}

/** Creates or updates every stream, consumer and bucket; safe to run on every start, by several processes. */
export async function applyTopology(nc: NatsConnection, jsm: JetStreamManager, config: Config): Promise<void> {
  for (const spec of streamSpecs(config)) {
    const cfg = {
      name: spec.name,
      subjects: spec.subjects,
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      discard: DiscardPolicy.Old,
      max_age: nanos(spec.maxAgeHours * 3_600_000),
      // The DLQ must accept a whole failed message plus its metadata.
      max_msg_size: spec.name === streamNames.dlq ? config.streams.maxMessageBytes * 2 : config.streams.maxMessageBytes,
      duplicate_window: nanos(config.streams.duplicateWindowS * 1000),
      // Limits are owned here too, so an update resets any hand-made drift.
      max_msgs: spec.maxMessages ?? -1,
      max_bytes: spec.maxBytes ?? -1,
      max_msgs_per_subject: -1,
      num_replicas: config.streams.replicas,
    };
    await retryOnTimeout(async () => {
      try {
        await jsm.streams.info(spec.name);
        await jsm.streams.update(spec.name, cfg);
      } catch (err) {
        if (!isNotFound(err)) throw err;
        await jsm.streams.add(cfg);
      }
    });
  }
  const subjects = createSubjects(config.subjects.prefix, config.partitions.count);
  const s = subjects.all;
  await ensureConsumer(jsm, streamNames.events, durableNames.enrich, s.events, config);
  // One consumer per partition for the stages that own partitions: the lease holder reads it alone.
  // The windower holds a message only until the next checkpoint of its partition is durable.
  for (const p of allPartitions(config.partitions.count)) {
    await ensureConsumer(jsm, streamNames.priced, partitionDurable("ledger", p), subjects.pricedPartition(p), config);
    await ensureConsumer(jsm, streamNames.priced, partitionDurable("windower", p), subjects.pricedPartition(p), config, {
      maxAckPending: config.windows.maxPending,
    });
  }
  await ensureConsumer(jsm, streamNames.alerts, durableNames.alertsLedger, s.alerts, config);
  // The detector's lanes per partition (see detector-stage.ts): every scope on the main lane
  // (which skips post windows), post windows alone on the post lane. Window subjects carry the
  // partition token only since these consumers exist, so they read from the start.
  for (const p of allPartitions(config.partitions.count)) {
    await ensureConsumer(jsm, streamNames.windows, partitionDurable("detector", p), subjects.windowsPartition(p), config);
    await ensureConsumer(jsm, streamNames.windows, partitionDurable("detectorPosts", p), subjects.windowsPartition(p, "post"), config);
  }
  // The single-instance detector's consumers (windows without a partition token): nobody reads them any more.
  for (const legacy of [durableNames.detector, durableNames.detectorPosts])
    await jsm.consumers.delete(streamNames.windows, legacy).catch(() => undefined);
  // The notifier holds an alert while it waits in its group and is delivered, keeping it
  // alive with working(); a short ack wait brings it back soon after a crash. Created
  // on a stream that already holds alerts, it starts with new ones (no storm of old alerts).
  await ensureConsumer(jsm, streamNames.alerts, durableNames.notifier, s.alerts, config, {
    ackWaitS: config.notify.ackWaitS,
    deliverPolicy: DeliverPolicy.New,
  });
  for (const bucket of Object.values(kvBuckets)) await ensureKvBucket(nc, jsm, bucket, { history: 5 }, config.streams.replicas);
  // Entries lapse one TTL after their last write: a lease not heartbeated is free again.
  await ensureKvBucket(nc, jsm, partitionBuckets.leases, { history: 1, ttl: config.partitions.leaseTtlMs }, config.streams.replicas);
  await ensureKvBucket(nc, jsm, partitionBuckets.windowState, { history: 1 }, config.streams.replicas);
  await ensureKvBucket(nc, jsm, partitionBuckets.detectorState, { history: 1 }, config.streams.replicas);
  await ensureNotifyBuckets(nc, config.streams.maxAgeHours * 4, config.streams.replicas);
}

async function ensureConsumer(
  jsm: JetStreamManager,
  stream: string,
  durable: string,
  filter: string,
  config: Config,
  {
    ackWaitS = config.streams.ackWaitS,
    deliverPolicy = DeliverPolicy.All,
    maxAckPending = 100_000,
  }: { ackWaitS?: number; deliverPolicy?: DeliverPolicy; maxAckPending?: number } = {},
) {
  const cfg = {
    durable_name: durable,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: deliverPolicy,
    filter_subject: filter,
    ack_wait: nanos(ackWaitS * 1000),
    max_deliver: config.streams.maxDeliver,
    max_ack_pending: maxAckPending,
  };
  await retryOnTimeout(async () => {
    try {
      await jsm.consumers.info(stream, durable);
      await jsm.consumers.update(stream, durable, {
        ack_wait: cfg.ack_wait,
        max_deliver: cfg.max_deliver,
        max_ack_pending: cfg.max_ack_pending,
      });
    } catch (err) {
      if (!isNotFound(err)) throw err;
      await jsm.consumers.add(stream, cfg);
    }
  });
}

function isNotFound(err: unknown): boolean {
  return (
    err instanceof JetStreamApiError && (err.code === JetStreamApiCodes.StreamNotFound || err.code === JetStreamApiCodes.ConsumerNotFound)
  );
}
