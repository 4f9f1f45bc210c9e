// Settles one batch: decodes it (a message that can never be decoded gets a
// dead outcome here), hands the decoded messages to the stage's handler and
// applies each outcome — dead letters through the one writer, then ack, term
// or nak — while the keep-alive holds the batch, deferred outcomes included.
import type { JsMsg } from "@nats-io/jetstream";
import { PermanentError, TransientError, errorMessage } from "../errors.ts";
import type { Delivery } from "./decoder.ts";
import type { DlqWriter } from "./dlq.ts";
import type { KeepAlive } from "./keep-alive.ts";
import { messageIds } from "./message-meta.ts";
import { deadFrom, retryDelayMs, type Outcome, type RunnerOptions } from "./stage-types.ts";

export interface LoopContext<T> {
  opts: RunnerOptions<T>;
  keepAlive: KeepAlive;
  deadLetter: DlqWriter;
  /** How long a message waits before it is redelivered when this instance was fenced off its partition (the ack wait). */
  fencedDelayMs: number;
}

/** Decodes the batch: the decoded messages for the handler, and an outcome for each refused one. */
function decodeBatch<T>(ctx: LoopContext<T>, batch: JsMsg[], outcomes: Outcome[]): { good: Delivery<T>[]; at: number[] | null } {
  const good: Delivery<T>[] = [];
  // Positions of the decoded messages in the batch; null while they are all of it (the common case).
  let at: number[] | null = null;
  for (let i = 0; i < batch.length; i++) {
    const msg = batch[i]!;
    try {
      const value = ctx.opts.decode(msg);
      at?.push(i);
      good.push({ msg, value });
    } catch (err) {
      at ??= good.map((_, j) => j);
      if (err instanceof PermanentError) outcomes[i] = deadFrom(err);
      else {
        ctx.opts.log.error({ err, seq: msg.info.streamSequence }, "decoder threw; retrying the message");
        outcomes[i] = { kind: "retry", error: new TransientError("unavailable", `decoding failed: ${errorMessage(err)}`, { cause: err }) };
      }
    }
  }
  return { good, at };
}

export async function settle<T>(ctx: LoopContext<T>, batch: JsMsg[]): Promise<void> {
  const { opts } = ctx;
  const { stage, metrics, log } = opts;
  const end = metrics.flushSeconds.startTimer({ stage });
  metrics.batchSize.observe({ stage }, batch.length);
  // Held (working() on each tick) until every outcome of the batch, deferred ones included, is applied.
  const release = ctx.keepAlive.hold(batch);
  let open = 1;
  const letGo = () => {
    if (--open === 0) release();
  };
  const track = () => (open++, letGo);
  const outcomes: Outcome[] = new Array(batch.length);
  const { good, at } = decodeBatch(ctx, batch, outcomes);
  if (good.length) {
    try {
      const handled = await opts.handle(good);
      if (handled.length !== good.length) throw new Error(`handler returned ${handled.length} outcomes for ${good.length} messages`);
      for (let j = 0; j < handled.length; j++) outcomes[at ? at[j]! : j] = handled[j]!;
    } catch (err) {
      const error =
        err instanceof TransientError
          ? err
          : new TransientError("unavailable", `${stage} batch failed: ${errorMessage(err)}`, { cause: err });
      if (!(err instanceof TransientError)) log.error({ err }, "batch handler threw; retrying the batch");
      for (let j = 0; j < good.length; j++) outcomes[at ? at[j]! : j] = { kind: "retry", error };
    }
  }
  // The common case, done with nothing for the DLQ, is acknowledged here and counted once per batch.
  let acked = 0;
  const rest: Promise<void>[] = [];
  for (let i = 0; i < batch.length; i++) {
    const outcome = outcomes[i]!;
    if (outcome.kind === "done" && !outcome.dlq?.length) {
      batch[i]!.ack();
      acked++;
    } else rest.push(apply(ctx, batch[i]!, outcome, track));
  }
  if (acked) metrics.messages.inc({ stage, outcome: "ack" }, acked);
  await Promise.all(rest);
  letGo();
  end();
  metrics.lastFlush.set({ stage }, Date.now() / 1000);
}

async function apply<T>(ctx: LoopContext<T>, msg: JsMsg, outcome: Outcome, track: () => () => void): Promise<void> {
  const { opts } = ctx;
  const { stage, metrics, log } = opts;
  if (outcome.kind === "deferred") {
    // Not awaited: the batch is settled, this message waits for its effect (kept alive meanwhile).
    const done = track();
    void outcome.until
      .then(
        (later) => apply(ctx, msg, later, track),
        (err) => apply(ctx, msg, { kind: "retry", error: new TransientError("unavailable", errorMessage(err)) }, track),
      )
      .finally(done);
    return;
  }
  if (opts.fence && !opts.fence()) {
    passOver(ctx, msg);
    return;
  }
  try {
    if (outcome.kind === "done") {
      for (const entry of outcome.dlq ?? []) await ctx.deadLetter(msg, entry);
      msg.ack();
      metrics.messages.inc({ stage, outcome: "ack" });
    } else if (outcome.kind === "dead") {
      await ctx.deadLetter(msg, outcome.entry);
      // No reason text: nats-server before 2.10 does not parse "+TERM <reason>" and
      // leaves the message unacknowledged (redelivered until max deliveries).
      // The reason is in the DLQ record.
      msg.term();
      metrics.messages.inc({ stage, outcome: "dead" });
    } else if (msg.info.deliveryCount >= opts.maxDeliver) {
      // JetStream would stop redelivering after this attempt: park it in the DLQ instead of losing it.
      await ctx.deadLetter(msg, {
        reason: outcome.error.reason,
        detail: `gave up after ${msg.info.deliveryCount} deliveries: ${outcome.error.message}`,
      });
      msg.term();
      metrics.messages.inc({ stage, outcome: "dead" });
    } else {
      msg.nak(retryDelayMs(msg.info.deliveryCount));
      metrics.messages.inc({ stage, outcome: "retry" });
      log.warn(
        {
          seq: msg.info.streamSequence,
          deliveries: msg.info.deliveryCount,
          reason: outcome.error.reason,
          err: outcome.error.message,
          ...messageIds(msg),
        },
        "will retry",
      );
    }
  } catch (err) {
    // The DLQ itself is unreachable: leave the message unacknowledged so it comes back.
    log.error({ err, seq: msg.info.streamSequence, ...messageIds(msg) }, "could not settle message; it will be redelivered");
    msg.nak(retryDelayMs(msg.info.deliveryCount));
  }
}

/**
 * A message of a partition this instance is fenced off (its lease lost, or
 * not renewed in time): back to the consumer, redelivered after the ack wait.
 * At once would be wrong: until its loop stops, this instance pulls it again
 * and again, each time a delivery, and JetStream gives a message up after
 * `max_deliver` of them, with no dead letter — a chaos run lost 22 messages
 * so within a second of a lease handover.
 */
export function passOver<T>(ctx: LoopContext<T>, msg: JsMsg): void {
  msg.nak(ctx.fencedDelayMs);
  ctx.opts.metrics.messages.inc({ stage: ctx.opts.stage, outcome: "fenced" });
}
