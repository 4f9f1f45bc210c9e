// The periodic runner: passes start an interval apart whatever they take
// (up to the interval), never overlap, and a failed pass is retried.
import { setTimeout as sleep } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import { createLogger } from "../../pipeline/observability/log.ts";
import { startPeriodic } from "../../pipeline/runner/periodic.ts";

async function passes(intervalMs: number, passMs: number, count: number) {
  const starts: number[] = [];
  let running = 0;
  let overlapped = false;
  const abort = new AbortController();
  const stage = startPeriodic({
    stage: "test",
    intervalMs,
    log: createLogger("silent"),
    signal: abort.signal,
    run: async () => {
      starts.push(performance.now());
      overlapped ||= running > 0;
      running++;
      await sleep(passMs);
      running--;
      if (starts.length >= count) abort.abort();
    },
  });
  await stage.done;
  const gaps = starts.slice(1).map((t, i) => t - starts[i]!);
  return { starts, overlapped, mean: gaps.reduce((a, b) => a + b, 0) / gaps.length };
}

describe("periodic runner", () => {
  it("starts passes an interval apart, not an interval after each pass ends", async () => {
    const r = await passes(200, 150, 6);
    expect(r.overlapped).toBe(false);
    expect(r.mean).toBeGreaterThanOrEqual(195);
    expect(r.mean).toBeLessThan(290); // waiting the interval after each pass would give 350
  });

  it("runs a pass longer than the interval back to back, never two at once", async () => {
    const r = await passes(50, 120, 4);
    expect(r.overlapped).toBe(false);
    expect(r.mean).toBeGreaterThanOrEqual(115);
  });

  it("keeps going after a failed pass", async () => {
    const abort = new AbortController();
    let n = 0;
    const stage = startPeriodic({
      stage: "test",
      intervalMs: 10,
      log: createLogger("silent"),
      signal: abort.signal,
      run: async () => {
        if (++n === 3) abort.abort();
        throw new Error("fails every time");
      },
    });
    await stage.done;
    expect(n).toBe(3);
  });
});
