// The notifier's KV buckets: silences (kept until deleted, expired ones stay
// listable), and delivery state (per (alert, channel) claims, per (fingerprint,
// channel) notifications, firing inhibitors), which lives as long as the
// alerts stream keeps alerts that could be redelivered, plus a week. Here, with
// the rest of the topology, so creating them and granting roles need not import the notifier.
import type { NatsConnection } from "@nats-io/nats-core";
import { jetstreamManager } from "@nats-io/jetstream";
import { ensureKvBucket } from "./replicas.ts";

export const notifyBuckets = { silences: "costline-silences", state: "costline-notify" } as const;

export async function ensureNotifyBuckets(nc: NatsConnection, alertsMaxAgeHours: number, replicas = 1): Promise<void> {
  const jsm = await jetstreamManager(nc);
  await ensureKvBucket(nc, jsm, notifyBuckets.silences, { history: 5 }, replicas);
  await ensureKvBucket(nc, jsm, notifyBuckets.state, { history: 1, ttl: (alertsMaxAgeHours + 24 * 7) * 3_600_000 }, replicas);
}
