// Groups alerts per (channel, route, group_by values), Alertmanager-style: a
// new group collects alerts for group_wait, then sends one notification;
// alerts arriving later wait until group_interval has passed since the last
// notification of that group (a flush that sent nothing — every alert already
// delivered, or suppressed — does not count). One flush of a group runs at a time, so a
// group's notifications go out in order. A group that stayed idle for a
// group_interval is forgotten. Timers only signal; the flush function acts.

export interface GroupTiming {
  waitMs: number;
  intervalMs: number;
}

interface Group<T> {
  key: string;
  timing: GroupTiming;
  pending: Map<string, T>;
  timer: NodeJS.Timeout | null;
  idle: NodeJS.Timeout | null;
  lastFlushAt: number | null;
  flushing: Promise<void> | null;
}

export interface GroupSchedulerOptions<T> {
  /** Sends one group's collected items; true when a notification went out. Must not throw. */
  flush(key: string, items: T[]): Promise<boolean>;
  /** The same item (by id) added again while pending: merge the newcomer into the pending one. */
  merge(pending: T, again: T): void;
  now?: () => number;
}

export function createGroupScheduler<T extends { id: string }>(opts: GroupSchedulerOptions<T>) {
  const now = opts.now ?? Date.now;
  const groups = new Map<string, Group<T>>();
  let draining = false;

  function schedule(g: Group<T>) {
    if (g.timer || g.flushing || g.pending.size === 0) return;
    if (g.idle) {
      clearTimeout(g.idle);
      g.idle = null;
    }
    const t = now();
    const due = draining ? t : g.lastFlushAt === null ? t + g.timing.waitMs : Math.max(t, g.lastFlushAt + g.timing.intervalMs);
    g.timer = setTimeout(() => flush(g), Math.max(0, due - t));
  }

  function flush(g: Group<T>) {
    g.timer = null;
    const items = [...g.pending.values()];
    g.pending.clear();
    if (items.length === 0) return;
    const startedAt = now();
    g.flushing = opts.flush(g.key, items).then((sent) => {
      if (sent) g.lastFlushAt = startedAt;
      g.flushing = null;
      if (g.pending.size) schedule(g);
      else if (!draining)
        g.idle = setTimeout(() => {
          if (!g.flushing && !g.timer && g.pending.size === 0) groups.delete(g.key);
        }, g.timing.intervalMs);
    });
  }

  return {
    add(key: string, timing: GroupTiming, item: T): void {
      let g = groups.get(key);
      if (!g) {
        g = { key, timing, pending: new Map(), timer: null, idle: null, lastFlushAt: null, flushing: null };
        groups.set(key, g);
      }
      const known = g.pending.get(item.id);
      if (known) opts.merge(known, item);
      else g.pending.set(item.id, item);
      schedule(g);
    },
    /** Sends everything pending now, without waiting for the timers, and waits for every flush. */
    async drain(): Promise<void> {
      draining = true;
      for (;;) {
        const busy: Promise<void>[] = [];
        for (const g of groups.values()) {
          if (g.idle) {
            clearTimeout(g.idle);
            g.idle = null;
          }
          if (g.timer) {
            clearTimeout(g.timer);
            g.timer = null;
          }
          if (!g.flushing && g.pending.size) flush(g);
          if (g.flushing) busy.push(g.flushing);
        }
        if (busy.length === 0) return;
        await Promise.allSettled(busy);
      }
    },
    size: () => groups.size,
  };
}
