// The notifier's KV buckets (named and created in nats/notify-buckets.ts) and
// the watched local copy of a bucket's keys that silences and inhibition keep.
import { KvWatchInclude, type KV } from "@nats-io/kv";

export { ensureNotifyBuckets, notifyBuckets } from "../nats/notify-buckets.ts";

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
