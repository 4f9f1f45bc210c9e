// The notifier's KV buckets: silences (kept until deleted, expired ones stay
// listable), and delivery state (per (alert, channel) claims, per (fingerprint,
// channel) notifications, firing inhibitors), which lives as long as the
// alerts stream keeps alerts that could be redelivered, plus a week.
import type { NatsConnection } from "@nats-io/nats-core";
import { jetstreamManager } from "@nats-io/jetstream";
import { KvWatchInclude, type KV } from "@nats-io/kv";
import { ensureKvBucket } from "../nats/replicas.ts";

export const notifyBuckets = { silences: "costline-silences", state: "costline-notify" } as const;

export async function ensureNotifyBuckets(nc: NatsConnection, alertsMaxAgeHours: number, replicas = 1): Promise<void> {
  const jsm = await jetstreamManager(nc);
  await ensureKvBucket(nc, jsm, notifyBuckets.silences, { history: 5 }, replicas);
  await ensureKvBucket(nc, jsm, notifyBuckets.state, { history: 1, ttl: (alertsMaxAgeHours + 24 * 7) * 3_600_000 }, replicas);
}

/**
 * A local copy of the keys under `filter`, current through a KV watch: the
 * watch for updates starts first, then the existing keys are read, so nothing
 * written in between is missed.
 */
export async function watchKv<T>(
  kv: KV,
  filter: string,
  parse: (v: unknown) => T | undefined,
  onError: (key: string, err: unknown) => void,
) {
  const items = new Map<string, T>();
  const watch = await kv.watch({ key: filter, include: KvWatchInclude.UpdatesOnly });
  void (async () => {
    for await (const e of watch) {
      if (e.operation !== "PUT" || e.value.length === 0) items.delete(e.key);
      else
        try {
          const v = parse(e.json());
          if (v === undefined) items.delete(e.key);
          else items.set(e.key, v);
        } catch (err) {
          onError(e.key, err);
        }
    }
  })();
  for await (const key of await kv.keys(filter)) {
    if (items.has(key)) continue;
    const e = await kv.get(key);
    if (!e || e.operation !== "PUT" || e.value.length === 0) continue;
    try {
      const v = parse(e.json());
      if (v !== undefined) items.set(key, v);
    } catch (err) {
      onError(key, err);
    }
  }
  return { items, stop: () => watch.stop() };
}
