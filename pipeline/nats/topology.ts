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
import { consumerInstances, durableNames, partitionedDurable } from "./stage-specs.ts";
import { ensureNotifyBuckets } from "./notify-buckets.ts";
import { ensureKvBucket, retryOnTimeout } from "./replicas.ts";

export { durableNames } from "./stage-specs.ts";

/** The durable consumer of one partition of a partitioned stage's loop (`ledger-p3`, `detector-posts-p0`). */
export const partitionDurable = (loop: keyof typeof durableNames, partition: number) => partitionedDurable(durableNames[loop], partition);

/**
 * Every durable consumer of the pipeline, with its stream and the stage that
 * reads it: what health watches. The partitioned stages have one per partition
 * (`ledger-p0` … , part of `ledger`). Derived from the stage table (stage-specs.ts).
 */
export function pipelineConsumersFor(partitions: number): readonly { stage: string; stream: string; durable: string; partOf?: string }[] {
  return consumerInstances(createSubjects("costline", partitions), partitions).map(({ stage, stream, durable, partOf }) =>
    partOf ? { stage, stream, durable, partOf } : { stage, stream, durable },
  );
}

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
  // Every stage's consumers, as the stage table declares them: a partitioned stage's once per
  // partition (the lease holder reads it alone), the others shared by every instance.
  const subjects = createSubjects(config.subjects.prefix, config.partitions.count);
  for (const c of consumerInstances(subjects, config.partitions.count)) {
    const settings = c.spec.settings?.(config) ?? {};
    await ensureConsumer(jsm, c.stream, c.durable, c.filter, config, {
      ackWaitS: settings.ackWaitS,
      deliverPolicy: settings.deliverPolicy === "new" ? DeliverPolicy.New : DeliverPolicy.All,
      maxAckPending: settings.maxAckPending,
    });
  }
  // The single-instance detector's consumers (windows without a partition token): nobody reads them any more.
  for (const legacy of [durableNames.detector, durableNames.detectorPosts])
    await jsm.consumers.delete(streamNames.windows, legacy).catch(() => undefined);
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
