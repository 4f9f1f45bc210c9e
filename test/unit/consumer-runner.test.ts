// The consumer runner on its own, with fake timers and an in-memory message
// source: what it decodes and dead-letters, the working() it sends while a
// batch or a deferred outcome is held, how a failed loop restarts (backoff,
// state for health) and when it gives up. Real NATS is in the integration
// tests (consumer-runner-retention, exactly-once, crash-recovery, …).
import { ClosedConnectionError } from "@nats-io/nats-core";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import * as z from "zod";
import { TransientError } from "../../pipeline/errors.ts";
import { judgeLoop } from "../../pipeline/health/loop-checks.ts";
import { createSubjects } from "../../pipeline/nats/subjects.ts";
import { createLogger } from "../../pipeline/observability/log.ts";
import { createMetrics } from "../../pipeline/observability/metrics.ts";
import { startStage, type BatchHandler, type Outcome, type RunnerOptions } from "../../pipeline/runner/consumer-runner.ts";
import { schemaDecoder } from "../../pipeline/runner/decoder.ts";
import { createSupervisor, restartDelayMs, StageFailedError, type RestartPolicy } from "../../pipeline/runner/supervisor.ts";
import { dlqRecordSchema } from "../../schemas/index.ts";
import { createMemoryJetStream, type MemoryMsg } from "../helpers/memory-jetstream.ts";

const item = z.object({ n: z.number() });
type Item = z.infer<typeof item>;
const policy: RestartPolicy = { minDelayMs: 1000, maxDelayMs: 8000, maxFailures: 6, windowMs: 60_000 };

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

/** A stage on an in-memory consumer; `getFailures` are what opening the consumer throws first, one per attempt. */
function stage(handle: BatchHandler<Item>, extra: Partial<RunnerOptions<Item>> = {}, ackWaitMs = 30_000, getFailures: Error[] = []) {
  const mem = createMemoryJetStream({ ackWaitMs });
  mem.getFailures.push(...getFailures);
  const abort = new AbortController();
  const metrics = createMetrics();
  const supervisor = createSupervisor({ policy, random: () => 1 });
  const running = startStage<Item>({
    stage: "test",
    js: mem.js,
    subjects: createSubjects("costline", 1),
    stream: "TEST",
    durable: "test",
    maxBatch: 10,
    flushMs: 20,
    maxDeliver: 5,
    decode: schemaDecoder(item, "test item"),
    handle,
    log: createLogger("silent"),
    metrics,
    signal: abort.signal,
    supervisor,
    ...extra,
  });
  return { mem, abort, metrics, supervisor, running };
}

const done = (): Outcome => ({ kind: "done" });
const kinds = (msgs: MemoryMsg[]) => msgs.map((m) => m.settled?.kind);

describe("decoding", () => {
  it("hands the handler typed values and dead-letters what it cannot decode, with a reason, counted once", async () => {
    const seen: Item[] = [];
    const { mem, abort, metrics, running } = stage(async (batch) => {
      for (const d of batch) seen.push(d.value);
      return batch.map(done);
    });
    const msgs = [mem.push({ n: 1 }), mem.push(Buffer.from("{nope")), mem.push({ n: "two" }), mem.push({ n: 3 })];
    await vi.advanceTimersByTimeAsync(50);
    expect(seen).toEqual([{ n: 1 }, { n: 3 }]);
    expect(kinds(msgs)).toEqual(["ack", "term", "term", "ack"]);
    const records = mem.published.map((p) => ({ dlqSubject: p.subject, ...dlqRecordSchema.parse(JSON.parse(p.data)) }));
    expect(records.map((r) => [r.dlqSubject, r.stage, r.reason, r.subject, r.stream_seq])).toEqual([
      ["costline.dlq.test", "test", "not_json", "test.m", 2],
      ["costline.dlq.test", "test", "validation", "test.m", 3],
    ]);
    expect(records[1]!.detail).toMatch(/^test item: n:/);
    const dlq = (await metrics.dlq.get()).values.map((v) => [v.labels.reason, v.value]);
    expect(dlq.sort()).toEqual([
      ["not_json", 1],
      ["validation", 1],
    ]);
    abort.abort();
    await running.done;
  });

  it("does not call the handler for a batch it refused entirely, and acknowledges skipped messages unread", async () => {
    const handle = vi.fn(async (batch: { value: Item }[]) => batch.map(done));
    const { mem, abort, running } = stage(handle, { skip: (m) => m.subject === "other.lane" });
    const bad = mem.push(Buffer.from("not json"));
    const other = mem.push(Buffer.from("not json either"), "other.lane");
    await vi.advanceTimersByTimeAsync(50);
    expect(handle).not.toHaveBeenCalled();
    expect(kinds([bad, other])).toEqual(["term", "ack"]);
    expect(mem.published).toHaveLength(1);
    abort.abort();
    await running.done;
  });

  it("writes a handler's per-element dead letters before the ack, and parks the last failed delivery in the DLQ", async () => {
    const { mem, abort, running } = stage(async (batch) =>
      batch.map(({ value }): Outcome =>
        value.n === 1
          ? { kind: "done", dlq: [{ reason: "validation", detail: "element 2 bad", batchIndex: 2 }] }
          : { kind: "retry", error: new TransientError("unavailable", "down") },
      ),
    );
    const withBad = mem.push({ n: 1 });
    const lastTry = mem.push({ n: 2 }, "test.m", 5);
    await vi.advanceTimersByTimeAsync(50);
    expect(kinds([withBad, lastTry])).toEqual(["ack", "term"]);
    expect(mem.published.map((p) => JSON.parse(p.data).batch_index ?? "all")).toEqual([2, "all"]);
    abort.abort();
    await running.done;
  });
});

describe("flushing with a linger", () => {
  it("flushes a batch after a quiet spell within the linger, and under steady traffic at most once a flushMs", async () => {
    const flushedAt: number[] = [];
    const sizes: number[] = [];
    const start = Date.now();
    const { mem, abort, running } = stage(
      async (batch) => {
        flushedAt.push(Date.now() - start);
        sizes.push(batch.length);
        return batch.map(done);
      },
      { flushMs: 1000, lingerMs: 50 },
    );
    mem.push({ n: 1 }); // after a quiet spell: out after the linger, not the second
    await vi.advanceTimersByTimeAsync(60);
    expect(flushedAt).toEqual([50]);
    await vi.advanceTimersByTimeAsync(40);
    mem.push({ n: 2 }); // 100 ms after the last flush began: waits until a second has passed since
    await vi.advanceTimersByTimeAsync(500);
    mem.push({ n: 3 }); // joins the same batch
    await vi.advanceTimersByTimeAsync(440);
    expect(flushedAt).toEqual([50]);
    await vi.advanceTimersByTimeAsync(15);
    expect(flushedAt).toEqual([50, 1050]);
    await vi.advanceTimersByTimeAsync(3000);
    mem.push({ n: 4 }); // quiet again: the linger
    await vi.advanceTimersByTimeAsync(51);
    expect(flushedAt).toEqual([50, 1050, 4105]);
    expect(sizes).toEqual([1, 2, 1]);
    abort.abort();
    await running.done;
  });

  it("without a linger, waits flushMs after each batch's first message", async () => {
    const flushedAt: number[] = [];
    const start = Date.now();
    const { mem, abort, running } = stage(
      async (batch) => {
        flushedAt.push(Date.now() - start);
        return batch.map(done);
      },
      { flushMs: 1000 },
    );
    mem.push({ n: 1 });
    await vi.advanceTimersByTimeAsync(1001);
    expect(flushedAt).toEqual([1000]);
    abort.abort();
    await running.done;
  });
});

describe("working() while a batch or an outcome is held", () => {
  it("tells JetStream every third of the ack wait until the slow batch settles, then stops", async () => {
    let finish!: () => void;
    const slow = new Promise<void>((r) => (finish = r));
    const { mem, abort, running } = stage(async (batch) => {
      await slow;
      return batch.map(done);
    });
    const msgs = [mem.push({ n: 1 }), mem.push({ n: 2 })];
    await vi.advanceTimersByTimeAsync(20); // the batch flushes; the handler now waits
    const t0 = Date.now();
    await vi.advanceTimersByTimeAsync(35_000);
    for (const m of msgs) {
      const beats = m.acks.filter((a) => a.kind === "working").map((a) => a.at - t0);
      // 10 s apart (a third of 30 s), so the ack wait never runs out; the first within 10 s of the flush.
      expect(beats).toHaveLength(3);
      expect(beats[1]! - beats[0]!).toBe(10_000);
      expect(beats[0]!).toBeLessThanOrEqual(10_000);
    }
    finish();
    await vi.advanceTimersByTimeAsync(1);
    expect(kinds(msgs)).toEqual(["ack", "ack"]);
    await vi.advanceTimersByTimeAsync(60_000);
    for (const m of msgs) expect(m.acks.filter((a) => a.kind === "working")).toHaveLength(3);
    abort.abort();
    await running.done;
  });

  it("keeps a deferred message alive until its effect is durable", async () => {
    let durable!: (o: Outcome) => void;
    const until = new Promise<Outcome>((r) => (durable = r));
    const { mem, abort, running } = stage(async (batch) => batch.map(() => ({ kind: "deferred", until }) as Outcome), {}, 9000);
    const m = mem.push({ n: 1 });
    await vi.advanceTimersByTimeAsync(20 + 9000);
    expect(m.acks.map((a) => a.kind)).toEqual(["working", "working", "working"]);
    durable({ kind: "done" });
    await vi.advanceTimersByTimeAsync(9000);
    expect(m.acks.map((a) => a.kind)).toEqual(["working", "working", "working", "ack"]);
    abort.abort();
    await running.done;
  });

  it("sends nothing for a batch settled within the tick", async () => {
    const { mem, abort, running } = stage(async (batch) => batch.map(done));
    const m = mem.push({ n: 1 });
    await vi.advanceTimersByTimeAsync(60_000);
    expect(m.acks.map((a) => a.kind)).toEqual(["ack"]);
    abort.abort();
    await running.done;
  });
});

describe("a partition fenced off", () => {
  it("hands its messages back to be redelivered after the ack wait, not at once, and handles none", async () => {
    let held = true;
    const seen: number[] = [];
    let finish!: () => void;
    const slow = new Promise<void>((r) => (finish = r));
    const { mem, abort, metrics, running } = stage(
      async (batch) => {
        for (const d of batch) seen.push(d.value.n);
        await slow;
        return batch.map((): Outcome => ({ kind: "retry", error: new TransientError("unavailable", "the ledger is away") }));
      },
      { fence: () => held },
    );
    // A batch in hand when the lease goes, to be retried: not by this instance, and not at its retry delay.
    const inHand = [mem.push({ n: 1 }), mem.push({ n: 2 })];
    await vi.advanceTimersByTimeAsync(20);
    held = false;
    finish();
    // Messages that arrive while fenced are not handled at all.
    const later = [mem.push({ n: 3 })];
    await vi.advanceTimersByTimeAsync(50);
    expect(seen).toEqual([1, 2]);
    for (const m of [...inHand, ...later]) expect(m.settled).toMatchObject({ kind: "nak", delayMs: 30_000 });
    const fenced = (await metrics.messages.get()).values.find((v) => v.labels.outcome === "fenced");
    expect(fenced?.value).toBe(3);
    abort.abort();
    await running.done;
  });
});

describe("restarts", () => {
  it("doubles the delay from the first up to the cap, half of it jittered", () => {
    expect([1, 2, 3, 4, 5, 6].map((n) => restartDelayMs(n, policy, () => 1))).toEqual([1000, 2000, 4000, 8000, 8000, 8000]);
    expect([1, 2, 3, 4].map((n) => restartDelayMs(n, policy, () => 0))).toEqual([500, 1000, 2000, 4000]);
  });

  it("restarts a loop whose consumer cannot be opened, on that schedule, showing it restarting, then running", async () => {
    const failures = [0, 1, 2].map((i) => new Error(`consumer not found (${i})`));
    const { mem, abort, supervisor, running } = stage(async (b) => b.map(done), {}, 30_000, failures);
    await vi.advanceTimersByTimeAsync(0);
    expect(supervisor.states()).toMatchObject([{ name: "test", status: "restarting", restarts: 0, lastError: "consumer not found (0)" }]);
    expect(judgeLoop(supervisor.states()[0]!)).toMatchObject({ name: "loop:test", status: "degraded" });
    // 1 s, 2 s, 4 s: the fourth attempt, 7 s in, opens the consumer.
    await vi.advanceTimersByTimeAsync(999);
    expect(mem.consumes()).toBe(0);
    await vi.advanceTimersByTimeAsync(1 + 2000 + 3999);
    expect(mem.consumes()).toBe(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(mem.consumes()).toBe(1);
    const [state] = supervisor.states();
    expect(state).toMatchObject({ status: "running", restarts: 3, recentFailures: 3, lastError: "consumer not found (2)" });
    expect(judgeLoop(state!)).toMatchObject({ status: "healthy", detail: expect.stringContaining("3 restarts") });
    const m = mem.push({ n: 1 });
    await vi.advanceTimersByTimeAsync(50);
    expect(m.settled?.kind).toBe("ack");
    abort.abort();
    await running.done;
    expect(supervisor.states()).toEqual([]);
  });

  it("restarts a loop whose message stream failed or ended, and goes on consuming", async () => {
    const { mem, abort, supervisor, running } = stage(async (b) => b.map(done));
    await vi.advanceTimersByTimeAsync(0);
    mem.failStream(new Error("consumer deleted"));
    await vi.advanceTimersByTimeAsync(0);
    expect(supervisor.states()[0]).toMatchObject({ status: "restarting", lastError: "consumer deleted" });
    await vi.advanceTimersByTimeAsync(1000);
    expect(mem.consumes()).toBe(2);
    mem.endStream();
    await vi.advanceTimersByTimeAsync(0);
    expect(supervisor.states()[0]).toMatchObject({ status: "restarting", lastError: expect.stringMatching(/ended without a stop/) });
    await vi.advanceTimersByTimeAsync(2000);
    expect(mem.consumes()).toBe(3);
    const m = mem.push({ n: 1 });
    await vi.advanceTimersByTimeAsync(50);
    expect(m.settled?.kind).toBe("ack");
    abort.abort();
    await running.done;
  });

  it("gives up after maxFailures within the window: done rejects, failed resolves, health says unhealthy", async () => {
    const failures = Array.from({ length: policy.maxFailures }, () => new Error("boom"));
    const { mem, supervisor, running } = stage(async (b) => b.map(done), {}, 30_000, failures);
    const outcome = running.done.then(
      () => "resolved",
      (err: unknown) => err,
    );
    await vi.advanceTimersByTimeAsync(1000 + 2000 + 4000 + 8000 + 8000);
    const err = await outcome;
    expect(err).toBeInstanceOf(StageFailedError);
    expect(String((err as Error).message)).toMatch(/failed 6 times within 60 s: boom/);
    await expect(supervisor.failed).resolves.toBe(err);
    expect(judgeLoop(supervisor.states()[0]!)).toMatchObject({ status: "unhealthy" });
    expect(mem.consumes()).toBe(0);
  });

  it("forgets failures older than the window", async () => {
    const { mem, abort, supervisor, running } = stage(async (b) => b.map(done));
    await vi.advanceTimersByTimeAsync(0);
    for (let i = 0; i < policy.maxFailures + 2; i++) {
      mem.failStream(new Error(`flaky ${i}`));
      await vi.advanceTimersByTimeAsync(61_000); // each failure is alone in its window: 1 s backoff, never a give-up
    }
    expect(supervisor.states()[0]).toMatchObject({ status: "running", restarts: policy.maxFailures + 2, recentFailures: 1 });
    abort.abort();
    await running.done;
  });

  it("gives up at once on an error no restart can mend (the NATS connection closed)", async () => {
    const { supervisor, running } = stage(async (b) => b.map(done), {}, 30_000, [new ClosedConnectionError()]);
    await expect(running.done).rejects.toThrow(/cannot recover/);
    expect(supervisor.states()[0]).toMatchObject({ status: "failed", restarts: 0 });
  });

  it("stops without a restart when asked to stop while waiting for one", async () => {
    const { mem, abort, supervisor, running } = stage(async (b) => b.map(done), {}, 30_000, [new Error("down")]);
    await vi.advanceTimersByTimeAsync(0);
    abort.abort();
    await expect(running.done).resolves.toBeUndefined();
    expect(mem.consumes()).toBe(0);
    expect(supervisor.states()).toEqual([]);
  });
});
