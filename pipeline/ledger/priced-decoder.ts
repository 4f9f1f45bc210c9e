// Decodes priced-event messages (JSON, validated against the schema) for the
// stages that read them. The ledger and the windower each have a durable
// consumer on the same stream; run in one process, they share one decoder so
// each message is parsed and validated once: the first reader stores the
// result under the message's stream sequence, the other takes it. The result
// is read-only to both. Bounded: entries the other reader never asks for
// (it runs elsewhere, or lags far behind) are dropped oldest first.
import type { JsMsg } from "@nats-io/jetstream";
import { PermanentError, errorMessage, formatIssues } from "../errors.ts";
import { pricedBatchSchema, pricedEventSchema, type PricedEvent } from "../../schemas/index.ts";

const singleEvent = pricedEventSchema.transform((e) => [e]);

/** One priced message's events, or a PermanentError that sends it to the DLQ. */
export function parsePriced(msg: JsMsg): PricedEvent[] {
  let raw: unknown;
  try {
    raw = msg.json();
  } catch (err) {
    throw new PermanentError("not_json", `priced message is not JSON: ${errorMessage(err)}`);
  }
  const parsed = Array.isArray(raw) ? pricedBatchSchema.safeParse(raw) : singleEvent.safeParse(raw);
  if (!parsed.success) throw new PermanentError("validation", `priced message: ${formatIssues(parsed.error)}`);
  return parsed.data;
}

/** Callers only read the events: another stage may hold the same array. */
export type PricedDecoder = (msg: JsMsg) => PricedEvent[];

/** A decoder shared by `readers` stages of one process (1: no sharing). */
export function createPricedDecoder(readers: number, capacity = 200_000): PricedDecoder {
  if (readers <= 1) return parsePriced;
  const memo = new Map<number, { events?: PricedEvent[]; error?: PermanentError; left: number }>();
  return (msg) => {
    const seq = msg.info.streamSequence;
    let entry = memo.get(seq);
    if (!entry) {
      try {
        entry = { events: parsePriced(msg), left: readers - 1 };
      } catch (err) {
        if (!(err instanceof PermanentError)) throw err;
        entry = { error: err, left: readers - 1 };
      }
      memo.set(seq, entry);
      if (memo.size > capacity) memo.delete(memo.keys().next().value!);
    } else if (--entry.left === 0) memo.delete(seq);
    if (entry.error) throw entry.error;
    return entry.events!;
  };
}
