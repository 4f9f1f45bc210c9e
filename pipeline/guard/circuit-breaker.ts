// A provider circuit breaker: closed → open after N consecutive failures or a
// failure rate over a sliding window of calls → half-open after the recovery
// timeout, when one probe decides: success closes it, failure opens it again.
// Errors of excluded types (a caller's own bad request) do not count.

export interface BreakerOptions {
  consecutiveFailures?: number;
  failureRate?: number;
  minCalls?: number;
  windowSize?: number;
  recoveryMs?: number;
  isExcluded?: (err: unknown) => boolean;
}

export type BreakerState = "closed" | "open" | "half-open";

export function createCircuitBreaker(opts: BreakerOptions = {}) {
  const consecutive = opts.consecutiveFailures ?? 5;
  const rate = opts.failureRate ?? 0.5;
  const minCalls = opts.minCalls ?? 20;
  const size = opts.windowSize ?? 50;
  const recoveryMs = opts.recoveryMs ?? 30_000;
  let state: BreakerState = "closed";
  let openedAt = 0;
  let streak = 0;
  let probing = false;
  const outcomes: boolean[] = [];

  function open(now: number) {
    state = "open";
    openedAt = now;
    probing = false;
  }

  return {
    state(now = Date.now()): BreakerState {
      if (state === "open" && now - openedAt >= recoveryMs) state = "half-open";
      return state;
    },
    /** Whether a call may go ahead now; in half-open, only one probe at a time. */
    allow(now = Date.now()): { allowed: boolean; waitMs: number } {
      const s = this.state(now);
      if (s === "closed") return { allowed: true, waitMs: 0 };
      if (s === "half-open" && !probing) {
        probing = true;
        return { allowed: true, waitMs: 0 };
      }
      return { allowed: false, waitMs: s === "open" ? recoveryMs - (now - openedAt) : 1000 };
    },
    success() {
      streak = 0;
      outcomes.push(true);
      if (outcomes.length > size) outcomes.shift();
      if (state === "half-open") {
        state = "closed";
        probing = false;
        outcomes.length = 0;
      }
    },
    failure(err: unknown, now = Date.now()) {
      if (opts.isExcluded?.(err)) return;
      if (state === "half-open") return open(now);
      streak++;
      outcomes.push(false);
      if (outcomes.length > size) outcomes.shift();
      const failed = outcomes.filter((ok) => !ok).length;
      if (streak >= consecutive || (outcomes.length >= minCalls && failed / outcomes.length >= rate)) open(now);
    },
  };
}
export type CircuitBreaker = ReturnType<typeof createCircuitBreaker>;
