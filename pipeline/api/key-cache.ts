// A bounded cache with a time to live: the least recently used entry goes
// first once `size` is reached, and an entry older than `ttlMs` is a miss.
// Holds misses too (value null), so a repeated wrong key costs no look-up.
export interface LruTtl<V> {
  get(key: string): V | undefined;
  set(key: string, value: V): void;
  delete(key: string): void;
  readonly size: number;
}

export function lruTtl<V>(size: number, ttlMs: number, now: () => number = Date.now): LruTtl<V> {
  const map = new Map<string, { at: number; value: V }>();
  return {
    get(key) {
      const hit = map.get(key);
      if (!hit) return undefined;
      map.delete(key);
      if (now() - hit.at >= ttlMs) return undefined;
      map.set(key, hit); // most recently used last
      return hit.value;
    },
    set(key, value) {
      map.delete(key);
      map.set(key, { at: now(), value });
      while (map.size > size) map.delete(map.keys().next().value!);
    },
    delete(key) {
      map.delete(key);
    },
    get size() {
      return map.size;
    },
  };
}
