// Mutual exclusion per key inside one process: a delivery holds the lock of
// every (channel, fingerprint) it carries, so a resolve never overtakes the
// trigger it resolves, and an alert is never sent twice at once. Keys are
// taken in sorted order, so two holders of overlapping sets cannot deadlock.

export function createKeyedLock() {
  const tails = new Map<string, Promise<void>>();

  async function one(key: string): Promise<() => void> {
    const prev = tails.get(key) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((r) => (release = r));
    const tail = prev.then(() => mine);
    tails.set(key, tail);
    await prev;
    return () => {
      release();
      if (tails.get(key) === tail) tails.delete(key);
    };
  }

  return {
    async acquire(keys: readonly string[]): Promise<() => void> {
      const held: (() => void)[] = [];
      for (const k of [...new Set(keys)].sort()) held.push(await one(k));
      return () => held.reverse().forEach((r) => r());
    },
    held: () => tails.size,
  };
}
export type KeyedLock = ReturnType<typeof createKeyedLock>;
