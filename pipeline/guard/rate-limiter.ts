// Sliding-window rate limits (requests and tokens, per minute and per day),
// approximated the usual way: the current fixed window plus the previous one
// weighted by how much of it still overlaps the sliding window. O(1) per call.

interface Counter {
  windowStart: number;
  current: number;
  previous: number;
}

export interface Limits {
  requestsPerMinute?: number;
  tokensPerMinute?: number;
  requestsPerDay?: number;
  tokensPerDay?: number;
}

const MINUTE = 60_000;
const DAY = 86_400_000;

function slide(c: Counter, now: number, size: number): number {
  const start = now - (now % size);
  if (start !== c.windowStart) {
    c.previous = start - c.windowStart === size ? c.current : 0;
    c.current = 0;
    c.windowStart = start;
  }
  const overlap = 1 - (now - start) / size;
  return c.previous * overlap + c.current;
}

/** Milliseconds until `used + amount` fits under `limit` again (0 when it fits now). */
function waitFor(c: Counter, now: number, size: number, amount: number, limit: number): number {
  const used = slide(c, now, size);
  if (used + amount <= limit) return 0;
  if (c.previous === 0) return c.windowStart + size - now;
  // The previous window's weight falls linearly: solve previous·overlap + current + amount = limit.
  const overlapNeeded = (limit - amount - c.current) / c.previous;
  if (overlapNeeded <= 0) return c.windowStart + size - now;
  return Math.max(1, Math.ceil((1 - overlapNeeded) * size - (now - c.windowStart)));
}

export function createRateLimiter(limits: Limits) {
  const counters = new Map<string, { rm: Counter; tm: Counter; rd: Counter; td: Counter }>();
  const fresh = (): Counter => ({ windowStart: 0, current: 0, previous: 0 });
  return {
    /** Takes one request of `tokens` for `key` if every limit allows it; otherwise says how long to wait. */
    take(key: string, tokens: number, now = Date.now()): { allowed: boolean; waitMs: number; limit?: string } {
      let c = counters.get(key);
      if (!c) counters.set(key, (c = { rm: fresh(), tm: fresh(), rd: fresh(), td: fresh() }));
      const checks: [Counter, number, number, number | undefined, string][] = [
        [c.rm, MINUTE, 1, limits.requestsPerMinute, "requests per minute"],
        [c.tm, MINUTE, tokens, limits.tokensPerMinute, "tokens per minute"],
        [c.rd, DAY, 1, limits.requestsPerDay, "requests per day"],
        [c.td, DAY, tokens, limits.tokensPerDay, "tokens per day"],
      ];
      for (const [counter, size, amount, limit, name] of checks) {
        if (limit === undefined) continue;
        const wait = waitFor(counter, now, size, amount, limit);
        if (wait > 0) return { allowed: false, waitMs: wait, limit: name };
      }
      c.rm.current += 1;
      c.tm.current += tokens;
      c.rd.current += 1;
      c.td.current += tokens;
      return { allowed: true, waitMs: 0 };
    },
  };
}
export type RateLimiter = ReturnType<typeof createRateLimiter>;
