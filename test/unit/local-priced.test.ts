// Enrich's in-process hand-over of priced events to the ledger and the
// windower: a reader gets exactly what decoding the wire would have given it,
// each offered message serves every reader once, and anything the priced
// schema would refuse is left to the wire decoder to judge.
import type { JsMsg } from "@nats-io/jetstream";
import { describe, expect, it } from "vitest";
import { createLocalPriced, offerable } from "../../pipeline/enrich/local-priced.ts";
import { createPricedDecoder } from "../../pipeline/ledger/priced-decoder.ts";
import { loadConfig } from "../../pipeline/config/config.ts";
import { createEventPricer } from "../../pipeline/pricing/price-event.ts";
import { demoEvent, seededRandom } from "../../pipeline/demo/traffic.ts";
import { costlineEvent, pricedEventSchema, type PricedEvent } from "../../schemas/index.ts";

function message(seq: number, events: PricedEvent[]): JsMsg & { parses: number } {
  const body = JSON.stringify(events);
  const m = {
    parses: 0,
    data: Buffer.from(body),
    info: { streamSequence: seq },
    json() {
      m.parses++;
      return JSON.parse(body);
    },
  };
  return m as unknown as JsMsg & { parses: number };
}

const toPriced = createEventPricer(loadConfig({}));
const r = seededRandom(3);
const priced = (n: number) =>
  Array.from({ length: n }, () => toPriced(costlineEvent.parse(demoEvent(r, new Date(), "test/local")), new Date()));

describe("local priced hand-over", () => {
  it("gives each reader the offered events once, without parsing, then falls back to the wire", () => {
    const local = createLocalPriced(createPricedDecoder(2), 2);
    const events = priced(3);
    const m = message(5, events);
    local.offer(5, events, m.data);
    expect(local.decoder(m)).toBe(events);
    expect(local.decoder(m)).toBe(events);
    expect(m.parses).toBe(0);
    expect(local.size()).toBe(0);
    // A redelivery after both readers had it is decoded from the wire.
    expect(local.decoder(m).map((e) => e.event_id)).toEqual(events.map((e) => e.event_id));
    expect(m.parses).toBe(1);
  });

  it("leaves a message to the wire decoder when a reader got it before the offer", () => {
    const local = createLocalPriced(createPricedDecoder(2), 2);
    const events = priced(2);
    const m = message(9, events);
    local.decoder(m); // the ledger was faster than enrich's PubAck
    local.offer(9, events, m.data);
    local.decoder(m); // the windower takes the wire decoder's memo, not an entry nobody would take
    expect(m.parses).toBe(1);
    expect(local.size()).toBe(0);
  });

  it("takes the offered events only for the very message offered: another message under that sequence is decoded", () => {
    const seen: number[] = [];
    const local = createLocalPriced(createPricedDecoder(2), 2, 20_000, (m) => void seen.push(m.info.streamSequence));
    const offered = priced(3);
    const other = priced(2);
    local.offer(7, offered, message(7, offered).data);
    // A replica that numbers the stream otherwise delivers another message as seq 7.
    const elsewhere = message(7, other);
    expect(local.decoder(elsewhere).map((e) => e.event_id)).toEqual(other.map((e) => e.event_id));
    expect(elsewhere.parses).toBe(1);
    expect(local.mismatches()).toBe(1);
    expect(seen).toEqual([7]);
    // The offered message itself, delivered by a replica that agrees, still takes the offer.
    const same = message(7, offered);
    expect(local.decoder(same)).toBe(offered);
    expect(same.parses).toBe(0);
  });

  it("holds at most maxEvents, dropping the oldest", () => {
    const local = createLocalPriced(createPricedDecoder(2), 2, 4);
    const a = priced(3);
    const b = priced(3);
    local.offer(1, a, message(1, a).data);
    local.offer(2, b, message(2, b).data);
    expect(local.size()).toBe(3);
    const ma = message(1, a);
    local.decoder(ma);
    expect(ma.parses).toBe(1);
  });

  it("offers only what the priced schema accepts, and that equals the decoded wire form", () => {
    const events = priced(2000);
    for (const e of events) {
      expect(offerable(e)).toBe(true);
      const wire = pricedEventSchema.safeParse(JSON.parse(JSON.stringify(e)));
      expect(wire.success).toBe(true);
      expect(JSON.parse(JSON.stringify(e))).toEqual(JSON.parse(JSON.stringify(wire.data)));
    }
    const base = events[0]!;
    const refused: Partial<PricedEvent>[] = [
      { cost_usd: "1e-7" },
      { cost_usd: "1234567890" },
      { revenue_usd: "0.0000000000001" },
      { price_version: "v".repeat(129) },
      { unpriced_reason: "r".repeat(257) },
      { model: "m".repeat(257) },
      { components: [{ unit: "input_mtok", quantity: "1", unit_price: "0.0000000000000000001", per: 1_000_000, amount_usd: "0" }] },
      { components: [{ unit: "input_mtok", quantity: "1", unit_price: "1", per: 0, amount_usd: "0" }] },
      { usage: { input_tokens: Number.NaN } },
    ];
    for (const change of refused) {
      const e = { ...base, ...change } as PricedEvent;
      expect(offerable(e), JSON.stringify(change)).toBe(false);
      // What is refused here the schema refuses too, or it would have been a needless fallback.
      expect(pricedEventSchema.safeParse(JSON.parse(JSON.stringify(e))).success, JSON.stringify(change)).toBe(false);
    }
    const local = createLocalPriced(createPricedDecoder(1), 1);
    const bad = [base, { ...base, cost_usd: "1e-7" } as PricedEvent];
    local.offer(3, bad, message(3, bad).data);
    expect(local.size()).toBe(0);
  });
});
