// Decodes priced-event messages (JSON, validated against the schema) for the
// stages that read them. The ledger and the windower each have a durable
// consumer on the same stream; run in one process, they share one decoder so
// each message is parsed and validated once: the first reader stores the
// result under the message's stream sequence, the other takes it. The result
// is read-only to both. Bounded: entries the other reader never asks for
// (it runs elsewhere, or lags far behind) are dropped oldest first.
import type { JsMsg } from "@nats-io/jetstream";
import { PermanentError, errorMessage, formatIssues } from "../errors.ts";
import { amountProblem, pricedEventSchema, type PricedEvent } from "../../schemas/index.ts";
import { compileFastParse, type FastParse } from "../../schemas/fast-parse.ts";

/** One element of a priced batch that failed validation: the ledger dead-letters it alone. */
export interface RejectedElement {
  index: number;
  error: PermanentError;
  raw: unknown;
}

// The elements of a batch that were left out, beside the events kept (the
// decoder's answer stays a plain array, shared read-only by its readers).
const rejectedByBatch = new WeakMap<readonly PricedEvent[], RejectedElement[]>();

/** The elements `parsePriced` left out of this batch (none for most). */
export function rejectedOf(events: readonly PricedEvent[]): RejectedElement[] {
  return rejectedByBatch.get(events) ?? [];
}

// The priced schema compiled into plain checks (schemas/fast-parse.ts), compiled on first use; zod judges what it refuses.
let fastPriced: FastParse<PricedEvent> | null | undefined;
const fastParse = () => (fastPriced === undefined ? (fastPriced = compileFastParse(pricedEventSchema) ?? null) : fastPriced);

function validatePriced(raw: unknown, where: string): PricedEvent | PermanentError {
  const fast = fastParse()?.(raw);
  if (fast?.ok) return fast.value;
  const parsed = pricedEventSchema.safeParse(raw);
  if (parsed.success) return parsed.data;
  // A money field out of bounds has its own reason (schemas/money.ts).
  const moneyIssue = parsed.error.issues.find((i) => i.path[0] === "cost_usd" || i.path[0] === "revenue_usd");
  const value = moneyIssue && (raw as Record<string, unknown>)[String(moneyIssue.path[0])];
  const problem = moneyIssue && value !== null ? amountProblem(value) : undefined;
  return new PermanentError(problem && problem !== "validation" ? problem : "validation", `${where}: ${formatIssues(parsed.error)}`);
}

/**
 * One priced message's events, or a PermanentError that sends it to the DLQ.
 * In a batch each element is validated on its own: the valid ones are
 * returned, the others are listed by `rejectedOf`, so one bad element does not
 * sink its siblings. A batch with no valid element fails as a whole.
 */
export function parsePriced(msg: JsMsg): PricedEvent[] {
  let raw: unknown;
  try {
    raw = msg.json();
  } catch (err) {
    throw new PermanentError("not_json", `priced message is not JSON: ${errorMessage(err)}`);
  }
  if (!Array.isArray(raw)) {
    const one = validatePriced(raw, "priced message");
    if (one instanceof PermanentError) throw one;
    return [one];
  }
  if (raw.length === 0) throw new PermanentError("validation", "priced message: empty batch");
  const events: PricedEvent[] = [];
  const rejected: RejectedElement[] = [];
  raw.forEach((item, index) => {
    const r = validatePriced(item, `priced event ${index} of batch`);
    if (r instanceof PermanentError) rejected.push({ index, error: r, raw: item });
    else events.push(r);
  });
  if (events.length === 0)
    throw rejected.length === 1
      ? rejected[0]!.error
      : new PermanentError(rejected[0]!.error.reason, `every event of the priced batch failed; first: ${rejected[0]!.error.message}`);
  if (rejected.length) rejectedByBatch.set(events, rejected);
  return events;
}

/** Callers only read the events: another stage may hold the same array. */
export type PricedDecoder = (msg: JsMsg) => PricedEvent[];

/**
 * A decoder shared by `readers` stages of one process (1: no sharing).
 * `capacity` (messages) bounds what waits for the other reader: with
 * partitions, this process may own a partition for one stage only, and those
 * entries are never asked for again until they are pushed out.
 */
export function createPricedDecoder(readers: number, capacity = 20_000): PricedDecoder {
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
