// The enrich and windower handlers as functions of their input: decoded
// messages in, outcomes (and what they published or checkpointed) out, with
// JetStream's publish and the checkpoint store in memory. The runner that
// feeds them is tested in consumer-runner.test.ts; the stages end to end in
// the integration tests.
import { describe, expect, it } from "vitest";
import type { JetStreamClient, JsMsg } from "@nats-io/jetstream";
import { loadConfig } from "../../pipeline/config/config.ts";
import { createEnrichHandler, enrichDecoder } from "../../pipeline/enrich/enrich-stage.ts";
import { parsePriced } from "../../pipeline/ledger/priced-decoder.ts";
import { createSubjects } from "../../pipeline/nats/subjects.ts";
import { createLogger } from "../../pipeline/observability/log.ts";
import { createMetrics } from "../../pipeline/observability/metrics.ts";
import { createEventPricer } from "../../pipeline/pricing/price-event.ts";
import type { Delivery, Outcome } from "../../pipeline/runner/consumer-runner.ts";
import type { CheckpointStore, LogEntry } from "../../pipeline/windows/checkpoint-store.ts";
import { createWindower } from "../../pipeline/windows/windower-stage.ts";
import type { PricedEvent, WindowAggregate } from "../../schemas/index.ts";
import { costEvent } from "../helpers/events.ts";
import { pricedCost } from "../helpers/events.ts";

const subjects = createSubjects("costline", 1);

function fakeJs(fail?: (subject: string) => boolean) {
  const published: { subject: string; body: unknown; msgID?: string }[] = [];
  const js = {
    async publish(subject: string, data: string, o?: { msgID?: string }) {
      if (fail?.(subject)) throw new Error("JetStream unavailable");
      published.push({ subject, body: JSON.parse(data), msgID: o?.msgID });
      return { seq: published.length, duplicate: false, stream: "S" };
    },
  } as unknown as JetStreamClient;
  return { js, published };
}

function msg(subject: string, body: unknown, seq = 1): JsMsg {
  const data = Buffer.from(JSON.stringify(body));
  return {
    subject,
    data,
    json: () => JSON.parse(data.toString()),
    info: { streamSequence: seq, deliveryCount: 1, timestampNanos: Date.now() * 1e6 },
  } as unknown as JsMsg;
}

describe("enrich handler", () => {
  const limits = { maxMessageBytes: 1 << 20, maxBatchEvents: 100 };
  const decode = enrichDecoder(limits);
  const delivered = (m: JsMsg) => ({ msg: m, value: decode(m) });
  const toPriced = createEventPricer(loadConfig({}));

  it("prices a batch, publishes it per tenant with a stable id, and dead-letters a foreign tenant's event alone", async () => {
    const { js, published } = fakeJs();
    const offered: number[] = [];
    const handle = createEnrichHandler({ js, subjects, toPriced, metrics: createMetrics(), offerPriced: (seq) => void offered.push(seq) });
    const acme = subjects.events("acme");
    const out = await handle([
      delivered(msg(acme, costEvent(1, "acme", "1.25"))),
      delivered(msg(acme, [costEvent(2, "acme", "0.5"), costEvent(3, "globex", "9")])),
    ]);
    expect(out[0]).toEqual({ kind: "done", dlq: [] });
    expect(out[1]).toMatchObject({ kind: "done", dlq: [{ reason: "tenant_mismatch", batchIndex: 1 }] });
    expect(published).toHaveLength(1);
    const events = published[0]!.body as PricedEvent[];
    expect(published[0]!.subject).toBe(subjects.priced("acme"));
    expect(events.map((e) => [e.event_id, e.cost_usd])).toEqual([
      ["evt-1", "1.25"],
      ["evt-2", "0.5"],
    ]);
    // No message id: the readers drop a republished event themselves, and JetStream's per-replica
    // duplicate check is where R3 replicas part (enrich-stage.ts).
    expect(published[0]!.msgID).toBeUndefined();
    expect(offered).toEqual([1]);
  });

  it("terms a lone event that fails, and asks for a retry of the batch when publishing fails", async () => {
    const bad = await createEnrichHandler({ js: fakeJs().js, subjects, toPriced, metrics: createMetrics() })([
      delivered(msg(subjects.events("acme"), costEvent(4, "globex", "1"))),
    ]);
    expect(bad[0]).toMatchObject({ kind: "dead", entry: { reason: "tenant_mismatch" } });

    const { js } = fakeJs(() => true);
    const out = await createEnrichHandler({ js, subjects, toPriced, metrics: createMetrics() })([
      delivered(msg(subjects.events("acme"), costEvent(5, "acme", "1"))),
    ]);
    expect(out[0]).toMatchObject({ kind: "retry", error: { reason: "unavailable" } });
  });
});

/** The checkpoint store's contract in memory: the bytes, and a key log that keeps the entries of live starts. */
function memoryCheckpoints(): CheckpointStore & { saves: number } {
  const saved = new Map<number, Uint8Array>();
  const logs = new Map<number, LogEntry[]>();
  const sections = new Map<number, Map<number, string>>();
  return {
    saves: 0,
    load: async (p) => saved.get(p) ?? null,
    loadedLog: (p) => logs.get(p) ?? [],
    loadedSections: (p) => [...(sections.get(p) ?? [])],
    async save(p, data, log) {
      this.saves++;
      saved.set(p, data);
      if (log) {
        logs.set(
          p,
          [...(logs.get(p) ?? []), ...log.fresh].filter(([start]) => log.live.has(start)),
        );
        const kept = new Map([...(sections.get(p) ?? []), ...(log.sections ?? [])].filter(([start]) => log.live.has(start)));
        sections.set(p, kept);
      }
    },
  };
}

function pricedOf(i: number, minute: number, cost = "1"): PricedEvent {
  const e = parsePriced(
    msg("costline.priced.acme.0", [
      pricedCost({
        id: `e-${i}`,
        tenant: "acme",
        cost,
        source: "test/windows",
        time: new Date(Date.UTC(2026, 10, 22, 10, minute, 10)).toISOString(),
        enrichedAt: new Date(Date.UTC(2026, 10, 22, 10, minute, 11)).toISOString(),
      }),
    ]),
  );
  return e[0]!;
}

describe("windower handler", () => {
  async function windower(checkpoints: CheckpointStore, clock: { now: number }) {
    const { js, published } = fakeJs();
    const w = await createWindower({
      js,
      subjects,
      partition: 0,
      checkpoints,
      config: { windowS: 60, latenessS: 0, emitMs: 500, maxPending: 10_000, checkpointMs: 1000 },
      maxHoldMs: 0,
      metrics: createMetrics(),
      log: createLogger("silent"),
      now: () => clock.now,
    });
    return { w, published };
  }
  const delivery = (events: PricedEvent[], seq: number): Delivery<PricedEvent[]> => ({
    msg: msg("costline.priced.acme.0", events, seq),
    value: events,
  });
  const settle = async (outcomes: Outcome[]) => Promise.all(outcomes.map((o) => (o.kind === "deferred" ? o.until : Promise.resolve(o))));

  it("acknowledges only once a checkpoint counts the events, and publishes each final window once", async () => {
    const checkpoints = memoryCheckpoints();
    const clock = { now: Date.UTC(2026, 10, 22, 10, 0, 30) };
    const { w, published } = await windower(checkpoints, clock);
    const out = await w.handle([delivery([pricedOf(1, 0, "1.5")], 1), delivery([pricedOf(2, 0, "2.25")], 2)]);
    expect(out.map((o) => o.kind)).toEqual(["deferred", "deferred"]);
    let settled = false;
    const all = settle(out).then((r) => ((settled = true), r));
    await w.emit(); // open windows published; no checkpoint due yet
    await Promise.resolve();
    expect(settled).toBe(false);
    // A window turns final once the watermark passes its end and lateness, or a window length after that on the clock.
    clock.now = Date.UTC(2026, 10, 22, 10, 2, 1);
    await w.emit();
    expect(await all).toEqual([{ kind: "done" }, { kind: "done" }]);
    expect(checkpoints.saves).toBe(1);
    const finals = published.flatMap((p) => p.body as WindowAggregate[]).filter((x) => x.final && x.scope === "tenant");
    expect(finals.map((f) => [f.window_start, f.events, f.cost_usd])).toEqual([["2026-11-22T10:00:00.000Z", 2, "3.75"]]);
  });

  it("passes a late event (behind the watermark) at once, uncounted", async () => {
    const clock = { now: Date.UTC(2026, 10, 22, 10, 5, 0) };
    const { w } = await windower(memoryCheckpoints(), clock);
    const counted = await w.handle([delivery([pricedOf(3, 4)], 1)]);
    clock.now = Date.UTC(2026, 10, 22, 10, 6, 1);
    await w.emit();
    expect(await settle(counted)).toEqual([{ kind: "done" }]);
    const [late] = await w.handle([delivery([pricedOf(4, 2)], 2)]);
    expect(late).toEqual({ kind: "done" });
  });

  it("resumes from the checkpoint after a restart and recognises events it already counted", async () => {
    const checkpoints = memoryCheckpoints();
    const clock = { now: Date.UTC(2026, 10, 22, 10, 0, 30) };
    const first = await windower(checkpoints, clock);
    const counted = await first.w.handle([delivery([pricedOf(5, 0, "4")], 1)]);
    await first.w.flush();
    await settle(counted);
    const second = await windower(checkpoints, clock);
    expect(second.w.state.openWindows()).toBeGreaterThan(0);
    // The redelivery of the same event (its ack was lost) joins as a duplicate; the final window counts it once.
    const again = await second.w.handle([delivery([pricedOf(5, 0, "4")], 1)]);
    clock.now = Date.UTC(2026, 10, 22, 10, 2, 1);
    await second.w.emit();
    await settle(again);
    const finals = second.published.flatMap((p) => p.body as WindowAggregate[]).filter((x) => x.final && x.scope === "tenant");
    expect(finals.map((f) => [f.events, f.cost_usd])).toEqual([[1, "4"]]);
  });
});
