// Hands priced events from enrich to the ledger sink and the windower of the
// same process without a second decode. Enrich offers each priced message's
// events under the stream sequence JetStream stored it at; a reader asking for
// that message takes them instead of parsing and validating the JSON it just
// came from. Everything else (another process's messages, a redelivery after a
// restart, an entry dropped for room) goes through the ordinary decoder, which
// stays the one that judges the wire.
//
// Only events the priced schema would accept are offered: toPriced builds
// them from a validated event, and `offerable` checks what pricing and
// configuration add (lengths, decimal forms), so a reader gets exactly what
// decoding the message would have given it.
//
// A sequence alone does not name a message: the PubAck's sequence is the
// stream leader's, and a consumer delivers from its own replica, whose
// numbering can differ from the leader's — nats-server 2.9 replicas judge a
// Nats-Msg-Id duplicate each on its own, so a republication at the edge of the
// duplicate window is stored by some and dropped by others, and from there on
// the same sequence holds different messages on different nodes (measured in
// the cluster chaos run; a stream deleted and made again reuses sequences
// too). So an offer carries the bytes enrich published, and a reader takes the
// offered events only for a message with exactly those bytes; any other
// message under that sequence is decoded from the wire (and counted), never
// acknowledged with another message's events.
import type { JsMsg } from "@nats-io/jetstream";
import { decimalPattern, eventAmountPattern, type PricedEvent } from "../../schemas/index.ts";
import type { PricedDecoder } from "../ledger/priced-decoder.ts";

export interface LocalPriced {
  /** Enrich: these events, published as `data`, are the priced message JetStream acknowledged at `seq` (not a duplicate). */
  offer(seq: number, events: PricedEvent[], data: Uint8Array): void;
  /** The readers' decoder: offered events first, the wire otherwise. */
  decoder: PricedDecoder;
  /** Events held now (for tests and metrics). */
  size(): number;
  /** Messages delivered under an offered sequence with other bytes than the offer's (decoded from the wire instead). */
  mismatches(): number;
}

const within = (v: unknown, max: number) => typeof v === "string" && v.length <= max;
const money = (v: unknown) => typeof v === "string" && v.length <= 64 && eventAmountPattern.test(v);
const decimal = (v: unknown) => typeof v === "string" && v.length <= 64 && decimalPattern.test(v);

/** True when the priced schema accepts `e` as built by toPriced (the fields pricing and configuration fill in). */
export function offerable(e: PricedEvent): boolean {
  if (e.cost_usd !== null && !money(e.cost_usd)) return false;
  if (!money(e.revenue_usd)) return false;
  if (!within(e.provider, 256) || !within(e.model, 256) || !within(e.model_requested, 256) || !within(e.category, 256)) return false;
  if (e.unpriced_reason !== undefined && !within(e.unpriced_reason, 256)) return false;
  if (!within(e.price_source, 128) || !within(e.price_version, 128)) return false;
  if (e.latency_ms !== undefined && !(typeof e.latency_ms === "number" && e.latency_ms >= 0 && Number.isFinite(e.latency_ms))) return false;
  for (const c of e.components) {
    if (typeof c.unit !== "string" || typeof c.quantity !== "string") return false;
    if (!decimal(c.unit_price) || !decimal(c.amount_usd)) return false;
    if (!(typeof c.per === "number" && c.per > 0 && Number.isFinite(c.per))) return false;
  }
  for (const k in e.usage) if (typeof e.usage[k] !== "number" || !Number.isFinite(e.usage[k])) return false;
  return true;
}

/**
 * `readers`: how many stages of this process read the priced stream (the
 * ledger, the windower). `maxEvents` bounds what waits for a reader that lags
 * or runs elsewhere: the oldest entries are dropped, and read from the wire.
 */
export function createLocalPriced(
  inner: PricedDecoder,
  readers: number,
  maxEvents = 20_000,
  /** Told of each mismatch, with how many there have been so far. */
  onMismatch?: (msg: JsMsg, mismatches: number) => void,
): LocalPriced {
  const held = new Map<number, { events: PricedEvent[]; data: Buffer; left: number }>();
  let mismatched = 0;
  let heldEvents = 0;
  // Messages a reader decoded from the wire before enrich's offer came: the
  // other reader must decode them too (the wire decoder keeps its answer for it).
  const fromWire = new Set<number>();
  const drop = (seq: number) => {
    const entry = held.get(seq);
    if (!entry) return;
    held.delete(seq);
    heldEvents -= entry.events.length;
  };
  return {
    offer(seq, events, data) {
      if (readers <= 0 || held.has(seq)) return;
      if (fromWire.delete(seq)) return;
      for (const e of events) if (!offerable(e)) return;
      held.set(seq, { events, data: Buffer.from(data.buffer, data.byteOffset, data.byteLength), left: readers });
      heldEvents += events.length;
      while (heldEvents > maxEvents && held.size > 0) drop(held.keys().next().value!);
    },
    decoder(msg: JsMsg) {
      const seq = msg.info.streamSequence;
      const entry = held.get(seq);
      if (entry) {
        // The very message enrich published (a byte comparison, far cheaper than the parse it saves)?
        if (entry.data.equals(Buffer.from(msg.data.buffer, msg.data.byteOffset, msg.data.byteLength))) {
          if (--entry.left <= 0) drop(seq);
          return entry.events;
        }
        // Another message under the offered sequence: its own bytes decide. The entry stays for a
        // reader whose replica does hold the offered message there.
        mismatched++;
        onMismatch?.(msg, mismatched);
        return inner(msg);
      }
      fromWire.add(seq);
      if (fromWire.size > 10_000) fromWire.delete(fromWire.values().next().value!);
      return inner(msg);
    },
    size: () => heldEvents,
    mismatches: () => mismatched,
  };
}
