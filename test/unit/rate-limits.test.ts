import { describe, expect, it } from "vitest";
import { createRateLimiter } from "../../pipeline/guard/rate-limiter.ts";
import { createCircuitBreaker } from "../../pipeline/guard/circuit-breaker.ts";

const T = Date.UTC(2026, 10, 22, 10, 0, 0);

describe("sliding-window rate limiter", () => {
  it("limits requests per minute and says how long to wait", () => {
    const l = createRateLimiter({ requestsPerMinute: 3 });
    expect([1, 2, 3].map(() => l.take("k", 0, T + 1000).allowed)).toEqual([true, true, true]);
    const denied = l.take("k", 0, T + 2000);
    expect(denied).toMatchObject({ allowed: false, limit: "requests per minute" });
    expect(denied.waitMs).toBe(58_000);
    // Half way through the next minute, half of the previous minute still counts: 1.5 of 3.
    expect(l.take("k", 0, T + 90_000).allowed).toBe(true);
    expect(l.take("k", 0, T + 90_000).allowed).toBe(false);
  });

  it("limits tokens per minute and per day, per key", () => {
    const l = createRateLimiter({ tokensPerMinute: 1000, tokensPerDay: 1500 });
    expect(l.take("a", 800, T).allowed).toBe(true);
    expect(l.take("a", 300, T)).toMatchObject({ allowed: false, limit: "tokens per minute" });
    expect(l.take("b", 300, T).allowed).toBe(true);
    expect(l.take("a", 800, T + 10 * 60_000)).toMatchObject({ allowed: false, limit: "tokens per day" });
  });
});

describe("circuit breaker", () => {
  it("opens after consecutive failures, half-opens after the recovery time, and closes on a good probe", () => {
    const b = createCircuitBreaker({ consecutiveFailures: 3, recoveryMs: 10_000 });
    for (let i = 0; i < 3; i++) b.failure(new Error("502"), T);
    expect(b.state(T)).toBe("open");
    expect(b.allow(T + 1000)).toEqual({ allowed: false, waitMs: 9000 });
    expect(b.allow(T + 10_000).allowed).toBe(true); // the probe
    expect(b.allow(T + 10_001).allowed).toBe(false); // only one probe at a time
    b.success();
    expect(b.state(T + 10_002)).toBe("closed");
  });

  it("opens on a failure rate, ignores excluded errors, and reopens on a failed probe", () => {
    const b = createCircuitBreaker({
      consecutiveFailures: 100,
      failureRate: 0.5,
      minCalls: 10,
      recoveryMs: 1000,
      isExcluded: (e) => (e as Error).message === "400",
    });
    for (let i = 0; i < 20; i++) b.failure(new Error("400"), T);
    expect(b.state(T)).toBe("closed");
    for (let i = 0; i <= 10; i++) {
      if (i % 2) b.success();
      else b.failure(new Error("500"), T); // 6 of 11 failed
    }
    expect(b.state(T)).toBe("open");
    expect(b.allow(T + 1000).allowed).toBe(true);
    b.failure(new Error("500"), T + 1000);
    expect(b.state(T + 1001)).toBe("open");
  });
});
