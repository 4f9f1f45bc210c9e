// The enrich stage: validate each event, price and attribute it, publish the
// priced events (one message per input message and tenant) and only then
// acknowledge the input. Bad events go to the DLQ with their reason.
import type { JetStreamClient } from "@nats-io/jetstream";
import type { PricedEvent } from "../../schemas/index.ts";
import { PermanentError, TransientError, errorMessage } from "../errors.ts";
import type { Metrics } from "../observability/metrics.ts";
import type { Subjects } from "../nats/subjects.ts";
import type { BatchHandler, Delivery, Outcome } from "../runner/consumer-runner.ts";
import type { Decoder } from "../runner/decoder.ts";
import type { DlqEntry } from "../runner/dlq.ts";
import { decodeMessage, type DecodeLimits, type Decoded } from "./decode.ts";
import type { createEventPricer } from "../pricing/price-event.ts";
import { checkPricedAmounts } from "../pricing/amount-bounds.ts";

export interface EnrichDeps {
  js: JetStreamClient;
  subjects: Subjects;
  toPriced: ReturnType<typeof createEventPricer>;
  metrics: Metrics;
  /** Told about every event priced as unknown_model (to raise the alert once per model). */
  onUnknownModel?: (e: { provider: string; model: string; tenant: string; time: string }) => void;
  /** Told of each priced message JetStream stored (not a duplicate), with the bytes published: readers in this process take its events as they are. */
  offerPriced?: (seq: number, events: PricedEvent[], data: Uint8Array) => void;
}

/** Counts of a batch, added to the metrics once per batch instead of per message. */
export interface EnrichTally {
  priced: number;
  rejected: number;
}

type Planned = { outcome: Outcome } | { groups: Map<string, PricedEvent[]>; dlq: DlqEntry[] };

/**
 * A producer may publish only to its own tenant's subject (NATS permissions),
 * so the subject vouches for the tenant; an event naming another tenant in its
 * data would be billed to that tenant, and is refused.
 */
function tenantMismatch(event: { data: { tenant: string } }, subject: string, subjects: Subjects): PermanentError | undefined {
  if (eventsSubject(subjects, event.data.tenant) === subject) return undefined;
  return new PermanentError("tenant_mismatch", `data.tenant ${JSON.stringify(event.data.tenant)} is not the tenant of subject ${subject}`);
}

// The events subject of a tenant, escaped once per tenant rather than per event.
const subjectCache = new WeakMap<Subjects, Map<string, string>>();
function eventsSubject(subjects: Subjects, tenant: string): string {
  let cache = subjectCache.get(subjects);
  if (!cache) subjectCache.set(subjects, (cache = new Map()));
  let subject = cache.get(tenant);
  if (subject === undefined) {
    subject = subjects.events(tenant);
    if (cache.size >= 10_000) cache.clear();
    cache.set(tenant, subject);
  }
  return subject;
}

/**
 * Enrich's decoder: a message of one event or a batch of them, each element
 * validated on its own (decode.ts); a message unusable as a whole is refused.
 */
export function enrichDecoder(limits: DecodeLimits): Decoder<Decoded[]> {
  return (msg) => decodeMessage(msg.data, limits);
}

/**
 * Prices one message's events; pure apart from the clock. A batch handler
 * passes one `now` (the enriched_at of the whole batch) and a tally it adds
 * to the metrics once; called alone it counts into the metrics itself.
 */
export function planMessage(
  { msg, value: decoded }: Delivery<Decoded[]>,
  deps: Pick<EnrichDeps, "subjects" | "toPriced" | "metrics" | "onUnknownModel">,
  now = new Date(),
  tally?: EnrichTally,
): Planned {
  // The message's own time stands in for an event without one: parsed from the reply subject only then.
  let fallback: Date | undefined;
  const fallbackTime = () => (fallback ??= new Date(Math.floor(msg.info.timestampNanos / 1_000_000)));
  const groups = new Map<string, PricedEvent[]>();
  const dlq: DlqEntry[] = [];
  for (const item of decoded) {
    if (!item.ok) {
      dlq.push(badElement(decoded.length, item.index, item.error, item.raw));
      continue;
    }
    const mismatch = tenantMismatch(item.event, msg.subject, deps.subjects);
    if (mismatch) {
      dlq.push({ ...badElement(decoded.length, item.index, mismatch, item.event), eventId: item.event.id, source: item.event.source });
      continue;
    }
    try {
      const priced = deps.toPriced(item.event, item.event.time ? now : fallbackTime(), now);
      checkPricedAmounts(priced); // refused alone: its siblings in the message go on
      if (!priced.priced) {
        deps.metrics.unpriced.inc({ provider: priced.provider, model: priced.model_requested || priced.model });
        if (priced.unpriced_reason === "unknown_model")
          deps.onUnknownModel?.({ provider: priced.provider, model: priced.model, tenant: priced.tenant, time: priced.time });
      }
      const list = groups.get(priced.tenant);
      if (list) list.push(priced);
      else groups.set(priced.tenant, [priced]);
    } catch (err) {
      const error = err instanceof PermanentError ? err : new PermanentError("poison", `pricing failed: ${errorMessage(err)}`);
      dlq.push({ ...badElement(decoded.length, item.index, error, item.event), eventId: item.event.id, source: item.event.source });
    }
  }
  if (tally) {
    tally.priced += decoded.length - dlq.length;
    tally.rejected += dlq.length;
  } else {
    deps.metrics.events.inc({ stage: "enrich", result: "priced" }, decoded.length - dlq.length);
    if (dlq.length) deps.metrics.events.inc({ stage: "enrich", result: "rejected" }, dlq.length);
  }
  // A single event that failed is the whole message: term it rather than ack.
  if (decoded.length === 1 && dlq.length === 1)
    return { outcome: { kind: "dead", entry: { ...dlq[0]!, batchIndex: undefined, payload: undefined } } };
  return { groups, dlq };
}

function badElement(size: number, index: number, error: PermanentError, raw: unknown): DlqEntry {
  return {
    reason: error.reason,
    detail: size > 1 ? `event ${index} of batch: ${error.message}` : error.message,
    batchIndex: size > 1 ? index : undefined,
    payload: size > 1 ? Buffer.from(JSON.stringify(raw) ?? "null") : undefined,
  };
}

/*
 * Priced messages carry no Nats-Msg-Id. Every reader of them is idempotent per event (the ledger's
 * stored-id check and insert token, the windower's key digests; a late copy for a final window
 * reaches only the ledger), so JetStream's duplicate detection bought nothing but fewer copies on a
 * redelivered input — and it is where R3 replicas part: nats-server judges a message id on each
 * replica, so a republication at the edge of the duplicate window (or on a replica restarted with an
 * old duplicate map) is stored by some replicas and dropped by another, which from then on numbers
 * the stream differently and never delivers that message to the consumers it leads. Measured in the
 * cluster chaos run on nats-server 2.9 (see docs/scale-out.md).
 */

/** Events per priced message: large enough to amortise JetStream's per-message cost, well under its size limit. */
export const PRICED_CHUNK = 250;

/**
 * Prices a whole batch and publishes its priced events grouped by tenant
 * across messages (the ledger is idempotent per event, so regrouping on a
 * redelivery is harmless). Inputs are acknowledged only after every priced
 * message carrying their events was stored by JetStream.
 */
export function createEnrichHandler(deps: EnrichDeps): BatchHandler<Decoded[]> {
  return async (batch) => {
    const now = new Date();
    const tally: EnrichTally = { priced: 0, rejected: 0 };
    const plans = batch.map((d) => planMessage(d, deps, now, tally));
    deps.metrics.events.inc({ stage: "enrich", result: "priced" }, tally.priced);
    if (tally.rejected) deps.metrics.events.inc({ stage: "enrich", result: "rejected" }, tally.rejected);
    const byTenant = new Map<string, PricedEvent[]>();
    for (const plan of plans) {
      if ("outcome" in plan) continue;
      for (const [tenant, events] of plan.groups) {
        const list = byTenant.get(tenant);
        if (list) for (const e of events) list.push(e);
        else byTenant.set(tenant, events);
      }
    }
    const publishes: Promise<unknown>[] = [];
    for (const [tenant, events] of byTenant)
      for (let i = 0; i < events.length; i += PRICED_CHUNK) {
        const chunk = events.length <= PRICED_CHUNK ? events : events.slice(i, i + PRICED_CHUNK);
        // Encoded once: the bytes published are the bytes a reader of this process checks its offer against.
        const data = Buffer.from(JSON.stringify(chunk));
        const stored = deps.js.publish(deps.subjects.priced(tenant), data);
        const offer = deps.offerPriced;
        publishes.push(offer ? stored.then((ack) => (ack.duplicate ? undefined : offer(ack.seq, chunk, data))) : stored);
      }
    const published = await Promise.allSettled(publishes);
    const failed = published.find((r): r is PromiseRejectedResult => r.status === "rejected");
    const retry: Outcome | undefined = failed && {
      kind: "retry",
      error: new TransientError("unavailable", `publishing priced events failed: ${errorMessage(failed.reason)}`, { cause: failed.reason }),
    };
    return plans.map((plan): Outcome => {
      if ("outcome" in plan) return plan.outcome;
      if (retry && plan.groups.size > 0) return retry;
      return { kind: "done", dlq: plan.dlq };
    });
  };
}
