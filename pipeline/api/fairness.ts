// Per-key fairness on /v1: a token bucket (sustained rate plus a burst) and a
// cap on requests in flight at once. Past either, 429 with Retry-After, before
// any handler (and any ClickHouse query) runs. State is per API key id, kept
// for at most `maxKeys` keys (the least recently seen go first).
import type { MiddlewareHandler } from "hono";
import type { ApiEnv } from "./auth.ts";

export interface FairnessOptions {
  ratePerS: number;
  burst: number;
  maxConcurrentPerKey: number;
  maxKeys?: number;
  now?: () => number;
}

interface KeyState {
  tokens: number;
  at: number;
  inFlight: number;
}

export function fairness(o: FairnessOptions): MiddlewareHandler<ApiEnv> {
  const now = o.now ?? (() => performance.now());
  const states = new Map<string, KeyState>();
  const maxKeys = o.maxKeys ?? 100_000;

  function stateOf(key: string): KeyState {
    let s = states.get(key);
    if (s) {
      states.delete(key);
    } else {
      s = { tokens: o.burst, at: now(), inFlight: 0 };
      while (states.size >= maxKeys) {
        const oldest = [...states].find(([, v]) => v.inFlight === 0)?.[0] ?? states.keys().next().value!;
        states.delete(oldest);
      }
    }
    states.set(key, s);
    return s;
  }

  return async (c, next) => {
    const key = c.get("principal").keyId ?? "unknown";
    const s = stateOf(key);
    const t = now();
    s.tokens = Math.min(o.burst, s.tokens + ((t - s.at) / 1000) * o.ratePerS);
    s.at = t;
    if (s.tokens < 1) {
      const wait = Math.max(1, Math.ceil((1 - s.tokens) / o.ratePerS));
      return c.json(
        {
          error: `too many requests for this API key: at most ${o.ratePerS}/s with bursts of ${o.burst} (COSTLINE_API_RATE_PER_S, COSTLINE_API_BURST)`,
        },
        429,
        { "Retry-After": String(wait) },
      );
    }
    if (s.inFlight >= o.maxConcurrentPerKey) {
      return c.json(
        { error: `too many requests in flight for this API key: at most ${o.maxConcurrentPerKey} (COSTLINE_API_MAX_CONCURRENT_PER_KEY)` },
        429,
        { "Retry-After": "1" },
      );
    }
    s.tokens -= 1;
    s.inFlight++;
    try {
      await next();
    } finally {
      s.inFlight--;
    }
  };
}
