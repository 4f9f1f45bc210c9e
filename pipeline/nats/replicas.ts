// Stream replicas from configuration (COSTLINE_STREAM_REPLICAS), for KV
// buckets too: the client creates a bucket with the replicas asked for, but
// opens an existing one as it is, so a stack moved from one server to a
// cluster would keep single-copy buckets. Raising (or lowering) the count is
// a stream update, which JetStream carries out in place.
import type { JetStreamManager } from "@nats-io/jetstream";
import { Kvm, type KvOptions } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/nats-core";

/** The stream behind a KV bucket. */
export const kvStreamName = (bucket: string) => `KV_${bucket}`;

/** Creates the bucket with `replicas` copies, or brings an existing one to that count. */
export async function ensureKvBucket(
  nc: NatsConnection,
  jsm: JetStreamManager,
  bucket: string,
  opts: Partial<KvOptions>,
  replicas: number,
): Promise<void> {
  await retryOnTimeout(() => new Kvm(nc).create(bucket, { ...opts, replicas }));
  const name = kvStreamName(bucket);
  const { config } = await retryOnTimeout(() => jsm.streams.info(name));
  if (config.num_replicas !== replicas) await retryOnTimeout(() => jsm.streams.update(name, { ...config, num_replicas: replicas }));
}

/**
 * Runs a JetStream API call again when it timed out: on a cluster, a stream
 * being created by another process at the same moment, or a meta leader
 * being elected, leaves a request unanswered; the next try finds the stream.
 */
export async function retryOnTimeout<T>(fn: () => Promise<T>, attempts = 6): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await fn();
    } catch (err) {
      const timedOut = (err as Error).name === "TimeoutError" || /timeout|no responders/i.test((err as Error).message);
      if (!timedOut || i >= attempts) throw err;
      await new Promise((resolve) => setTimeout(resolve, 250 * i + Math.random() * 250));
    }
  }
}
