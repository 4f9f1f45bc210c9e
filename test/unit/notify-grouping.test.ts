// The group scheduler: group_wait for a new group, group_interval between a
// group's notifications, one flush of a group at a time, a flush that sent
// nothing not counting, merging of a redelivered alert, and drain on stop.
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { createGroupScheduler } from "../../pipeline/notify/grouping.ts";
import { createKeyedLock } from "../../pipeline/notify/keyed-lock.ts";

interface Item {
  id: string;
  copies: number;
}

function harness(sent = true) {
  const flushes: { key: string; ids: string[]; at: number }[] = [];
  let release: (() => void) | undefined;
  let hold = false;
  const s = createGroupScheduler<Item>({
    merge: (p, again) => void (p.copies += again.copies),
    flush: async (key, items) => {
      flushes.push({ key, ids: items.map((i) => `${i.id}x${i.copies}`), at: Date.now() });
      if (hold) await new Promise<void>((r) => (release = r));
      return sent;
    },
  });
  return { s, flushes, holdNext: () => (hold = true), release: () => ((hold = false), release?.()) };
}

const timing = { waitMs: 500, intervalMs: 5000 };

beforeEach(() => vi.useFakeTimers({ now: 0 }));
afterEach(() => vi.useRealTimers());

describe("group scheduler", () => {
  it("collects a new group for group_wait, then holds later alerts until group_interval has passed", async () => {
    const { s, flushes } = harness();
    s.add("g", timing, { id: "a", copies: 1 });
    await vi.advanceTimersByTimeAsync(200);
    s.add("g", timing, { id: "b", copies: 1 });
    s.add("other", timing, { id: "c", copies: 1 });
    await vi.advanceTimersByTimeAsync(299);
    expect(flushes).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(flushes).toEqual([{ key: "g", ids: ["ax1", "bx1"], at: 500 }]);
    await vi.advanceTimersByTimeAsync(200);
    expect(flushes.map((f) => f.key)).toEqual(["g", "other"]);
    s.add("g", timing, { id: "d", copies: 1 });
    await vi.advanceTimersByTimeAsync(4000);
    expect(flushes).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(799);
    expect(flushes).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(1);
    expect(flushes[2]).toEqual({ key: "g", ids: ["dx1"], at: 5500 });
  });

  it("merges a redelivered alert into the pending one", async () => {
    const { s, flushes } = harness();
    s.add("g", timing, { id: "a", copies: 1 });
    s.add("g", timing, { id: "a", copies: 1 });
    await vi.advanceTimersByTimeAsync(500);
    expect(flushes[0]!.ids).toEqual(["ax2"]);
  });

  it("runs one flush of a group at a time", async () => {
    const h = harness();
    h.holdNext();
    h.s.add("g", timing, { id: "a", copies: 1 });
    await vi.advanceTimersByTimeAsync(500);
    h.s.add("g", timing, { id: "b", copies: 1 });
    await vi.advanceTimersByTimeAsync(20_000);
    expect(h.flushes).toHaveLength(1);
    h.release();
    await vi.advanceTimersByTimeAsync(0);
    expect(h.flushes.map((f) => f.ids)).toEqual([["ax1"], ["bx1"]]);
    expect(h.flushes[1]!.at).toBe(20_500);
  });

  it("does not count a flush that sent nothing, so a retried alert does not wait a group interval", async () => {
    const { s, flushes } = harness(false);
    s.add("g", timing, { id: "a", copies: 1 });
    await vi.advanceTimersByTimeAsync(500);
    s.add("g", timing, { id: "a", copies: 1 });
    await vi.advanceTimersByTimeAsync(500);
    expect(flushes.map((f) => f.at)).toEqual([500, 1000]);
  });

  it("drains: sends what is pending at once and waits for it", async () => {
    const { s, flushes } = harness();
    s.add("g", { waitMs: 60_000, intervalMs: 60_000 }, { id: "a", copies: 1 });
    await s.drain();
    expect(flushes).toEqual([{ key: "g", ids: ["ax1"], at: 0 }]);
  });
});

describe("keyed lock", () => {
  it("serialises holders of a key and lets other keys through", async () => {
    vi.useRealTimers();
    const lock = createKeyedLock();
    const order: string[] = [];
    const r1 = await lock.acquire(["ch|fp1", "ch|fp2"]);
    const second = lock.acquire(["ch|fp2"]).then((r) => (order.push("second"), r));
    const other = lock.acquire(["ch|fp3"]).then((r) => (order.push("other"), r));
    (await other)();
    await new Promise((r) => setTimeout(r, 5));
    expect(order).toEqual(["other"]);
    r1();
    (await second)();
    expect(order).toEqual(["other", "second"]);
    expect(lock.held()).toBe(0);
  });
});
