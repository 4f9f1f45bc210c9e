// The priced-message decoder the ledger and the windower share in one
// process: each message parsed and validated once, the same answer (events
// or a PermanentError) to both readers, and a bounded memo.
import type { JsMsg } from "@nats-io/jetstream";
import { describe, expect, it } from "vitest";
import { PermanentError } from "../../pipeline/errors.ts";
import { createPricedDecoder, parsePriced } from "../../pipeline/ledger/priced-decoder.ts";
import type { PricedEvent } from "../../schemas/index.ts";

const event = (id: string): PricedEvent => ({
  event_id: id,
  source: "t",
  type: "costline.llm.usage",
  kind: "llm",
  time: "2026-11-22T10:00:00.000Z",
  tenant: "acme",
  provider: "openai",
  model: "gpt-4o",
  model_requested: "gpt-4o",
  category: "",
  usage: { input_tokens: 10, output_tokens: 5 },
  batch: false,
  cost_usd: "0.1",
  revenue_usd: "0",
  priced: true,
  price_source: "x",
  price_version: "1",
  components: [],
  attribution_method: "direct",
  enriched_at: "2026-11-22T10:00:01.000Z",
});

/** The two things the decoder reads of a delivered message: its stream sequence and its JSON body. */
function message(seq: number, body: string): JsMsg & { parses: number } {
  const m = {
    parses: 0,
    info: { streamSequence: seq },
    json() {
      m.parses++;
      return JSON.parse(body);
    },
  };
  return m as unknown as JsMsg & { parses: number };
}

describe("priced decoder", () => {
  it("parses a message once for two readers and hands both the same events", () => {
    const decode = createPricedDecoder(2);
    const m = message(7, JSON.stringify([event("a"), event("b")]));
    const first = decode(m);
    const second = decode(m);
    expect(first.map((e) => e.event_id)).toEqual(["a", "b"]);
    expect(second).toBe(first);
    expect(m.parses).toBe(1);
    // Both readers had it: a third read (a redelivery) parses again.
    expect(decode(m)).toEqual(first);
    expect(m.parses).toBe(2);
  });

  it("gives both readers the same dead-letter reason", () => {
    const decode = createPricedDecoder(2);
    const m = message(8, JSON.stringify({ ...event("a"), cost_usd: 0.1 }));
    const reasons = [0, 1].map(() => {
      try {
        decode(m);
        return "decoded";
      } catch (err) {
        return err instanceof PermanentError ? err.reason : "other";
      }
    });
    expect(reasons).toEqual(["validation", "validation"]);
    expect(m.parses).toBe(1);
    expect(() => decode(message(9, "{not json"))).toThrow(/priced message is not JSON/);
  });

  it("drops the oldest entries past its capacity, and does not memoize for a single reader", () => {
    const decode = createPricedDecoder(2, 2);
    const msgs = [1, 2, 3].map((seq) => message(seq, JSON.stringify(event(`e${seq}`))));
    for (const m of msgs) decode(m); // the first reader: seq 1 is dropped when seq 3 comes
    for (const m of [msgs[1]!, msgs[2]!, msgs[0]!]) decode(m); // the second reader
    expect(msgs.map((m) => m.parses)).toEqual([2, 1, 1]);
    expect(createPricedDecoder(1)).toBe(parsePriced);
  });
});
