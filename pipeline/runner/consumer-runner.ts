// The one consumer loop every stage runs on. It owns the durable pull
// consumer, collects messages into batches (by count, or by time since the
// first buffered message), decodes each message with the stage's decoder
// (one that can never be decoded is dead-lettered here, with its reason),
// hands the decoded batch to the stage's pure handler and applies the ack
// policy to the outcomes:
//   done  → DLQ records for the batch's bad elements, then ack
//   dead  → DLQ record, then term (never retried)
//   retry → nak with jittered backoff; on the last allowed delivery, DLQ + term
// A message is acknowledged only after the handler made its effect durable;
// while a batch is handled or an outcome deferred, its messages get
// `working()` (keep-alive.ts) so a slow flush is not redelivered. Every dead
// letter goes through one writer (dlq.ts). A loop that fails is restarted by
// the supervisor (supervisor.ts). Every stage gets the same metrics (messages
// by outcome, batch sizes, batch time, dead letters by reason) and log lines
// that name the event's trace and request id when its message carries them.
import type { JetStreamClient, JsMsg } from "@nats-io/jetstream";
import type { Logger } from "../observability/log.ts";
import type { Metrics } from "../observability/metrics.ts";
import type { Subjects } from "../nats/subjects.ts";
import { PermanentError, TransientError, errorMessage } from "../errors.ts";
import { createDlqWriter, type DlqEntry, type DlqWriter } from "./dlq.ts";
import type { Decoder, Delivery } from "./decoder.ts";
import { createKeepAlive, type KeepAlive } from "./keep-alive.ts";
import { messageIds, retriedForAnother } from "./message-meta.ts";
import { createSupervisor, type Supervisor } from "./supervisor.ts";

export type { Decoder, Delivery } from "./decoder.ts";

export type Outcome =
  | { kind: "done"; dlq?: DlqEntry[] }
  | { kind: "dead"; entry: DlqEntry }
  | { kind: "retry"; error: TransientError }
  /** The effect becomes durable later (a window published when it closes): settle then. */
  | { kind: "deferred"; until: Promise<Outcome> };

/**
 * A stage: a function of a batch of decoded messages returning one outcome
 * per message, in order. Messages its decoder refused never reach it.
 */
export type BatchHandler<T> = (batch: Delivery<T>[]) => Promise<Outcome[]>;

export interface RunnerOptions<T> {
  stage: string;
  js: JetStreamClient;
  subjects: Subjects;
  stream: string;
  durable: string;
  maxBatch: number;
  /**
   * Flush once the buffered payloads reach this many bytes, whatever their
   * count: batch messages carry many events each, and a batch is bounded by
   * its work, not only by its messages.
   */
  maxBatchBytes?: number;
  flushMs: number;
  maxDeliver: number;
  /** Batches settling at once. 1 keeps batches strictly one after another (the ledger needs that). */
  concurrency?: number;
  /** Reads each message into what `handle` works on (see decoder.ts; `schemaDecoder` for a zod schema). */
  decode: Decoder<T>;
  handle: BatchHandler<T>;
  /**
   * Messages of the subject this stage leaves to others (the detector's
   * other lane): acknowledged on receipt, undecoded.
   */
  skip?: (msg: JsMsg) => boolean;
  /**
   * Partition ownership (leases/lease-manager.ts): once false, this instance
   * lost the partition and settles nothing more; its messages are passed back
   * with a nak for the new owner.
   */
  fence?: () => boolean;
  /** Restarts the loop when it fails (default: one of its own with the default policy). */
  supervisor?: Supervisor;
  /** Where dead letters go (default: this stage's DLQ subject through dlq.ts). */
  deadLetter?: DlqWriter;
  log: Logger;
  metrics: Metrics;
  signal: AbortSignal;
}

export interface RunningStage {
  name: string;
  /** Resolves when the loop has stopped and the last batch was settled; rejects when it gave up (supervisor.ts). */
  done: Promise<void>;
  lastFlushAt(): number;
}

const TIMER = Symbol("timer");
const STOP = Symbol("stop");

/** The ack wait assumed when the consumer's info does not say (JetStream's default). */
const DEFAULT_ACK_WAIT_MS = 30_000;

/** Nak delay for a temporary failure: exponential in the delivery count, capped, with jitter. */
export function retryDelayMs(deliveryCount: number, random = Math.random): number {
  const base = Math.min(30_000, 250 * 2 ** Math.max(0, deliveryCount - 1));
  return Math.round(base / 2 + random() * (base / 2));
}

/**
 * A loop's name in health and logs: its durable where that names one
 * partition of the stage (`ledger-p3`), else the stage, as the consumer checks
 * of health/consumer-watch.ts name them.
 */
export function loopName(stage: string, durable: string): string {
  return durable.startsWith(`${stage}-`) ? durable : stage;
}

/** A plain timer as a promise: fake timers in tests drive it like every other timer of the loop. */
const after = (ms: number) => new Promise<typeof TIMER>((resolve) => setTimeout(() => resolve(TIMER), ms));

export function startStage<T>(opts: RunnerOptions<T>): RunningStage {
  let lastFlush = Date.now();
  const ctx: LoopContext<T> = {
    opts,
    keepAlive: createKeepAlive(),
    deadLetter: opts.deadLetter ?? createDlqWriter(opts),
  };
  const supervisor = opts.supervisor ?? createSupervisor();
  const done = supervisor
    .run(loopName(opts.stage, opts.durable), () => run(ctx, () => (lastFlush = Date.now())), { signal: opts.signal, log: opts.log })
    .finally(() => ctx.keepAlive.stop());
  return { name: opts.stage, done, lastFlushAt: () => lastFlush };
}

interface LoopContext<T> {
  opts: RunnerOptions<T>;
  keepAlive: KeepAlive;
  deadLetter: DlqWriter;
}

async function run<T>(ctx: LoopContext<T>, flushed: () => void): Promise<void> {
  const { opts } = ctx;
  const { log, metrics, stage } = opts;
  const consumer = await opts.js.consumers.get(opts.stream, opts.durable);
  const ackWaitNs = (await consumer.info(true).catch(() => undefined))?.config.ack_wait;
  ctx.keepAlive.start(ackWaitNs ? ackWaitNs / 1e6 : DEFAULT_ACK_WAIT_MS);
  const messages = await consumer.consume({ max_messages: Math.max(opts.maxBatch * 2, 100) });
  const it = messages[Symbol.asyncIterator]();
  // A fresh stop promise per wait, never one promise for the loop's life: every Promise.race adds a
  // reaction to each promise it races, and a promise that stays pending keeps them all — each holding
  // the race's result, the message — so one long-lived stop promise retained every message received.
  let wake: ((stop: typeof STOP) => void) | null = null;
  const onAbort = () => wake?.(STOP);
  opts.signal.addEventListener("abort", onAbort, { once: true });
  const stopped = () => (opts.signal.aborted ? Promise.resolve(STOP) : new Promise<typeof STOP>((resolve) => (wake = resolve)));

  let buffer: JsMsg[] = [];
  let bufferedBytes = 0;
  const maxBytes = opts.maxBatchBytes ?? Number.POSITIVE_INFINITY;
  let timer: Promise<typeof TIMER> | null = null;
  let pending: Promise<IteratorResult<JsMsg>> | null = null;

  const inFlight = new Set<Promise<void>>();
  const concurrency = Math.max(1, opts.concurrency ?? 1);
  const flush = async () => {
    timer = null;
    if (buffer.length === 0) return;
    const batch = buffer;
    buffer = [];
    bufferedBytes = 0;
    const p: Promise<void> = settle(ctx, batch).then(flushed, (err) => log.error({ err }, "settling a batch failed"));
    inFlight.add(p);
    void p.finally(() => inFlight.delete(p));
    while (inFlight.size >= concurrency) await Promise.race(inFlight);
  };

  log.info({ stream: opts.stream, durable: opts.durable }, "stage started");
  try {
    for (;;) {
      pending ??= it.next();
      const next: IteratorResult<JsMsg> | typeof TIMER | typeof STOP = await Promise.race<
        IteratorResult<JsMsg> | typeof TIMER | typeof STOP
      >(timer ? [pending, timer, stopped()] : [pending, stopped()]);
      if (next === STOP) break;
      if (next === TIMER) {
        await flush();
        continue;
      }
      pending = null;
      if (next.done) break;
      const msg = next.value;
      if (retriedForAnother(msg, stage) || opts.skip?.(msg)) {
        // Not this stage's to handle: another stage's retry (`costline dlq retry`), or another lane's message.
        msg.ack();
        metrics.messages.inc({ stage, outcome: "skipped" });
        continue;
      }
      buffer.push(msg);
      bufferedBytes += msg.data.byteLength;
      if (buffer.length === 1) timer = after(opts.flushMs);
      if (buffer.length >= opts.maxBatch || bufferedBytes >= maxBytes) await flush();
    }
  } finally {
    opts.signal.removeEventListener("abort", onAbort);
    // Stop consuming first, then settle what we hold. close() completes only
    // once the iterator reaches its end, behind whatever was pulled but not yet
    // handed to us (a burst after a reconnect or a server reload): those are
    // passed over with a nak, so they are redelivered at once, not after the ack wait.
    const closing = messages.close().catch(() => undefined);
    try {
      for (;;) {
        const rest = await (pending ?? it.next());
        pending = null;
        if (rest.done) break;
        rest.value.nak();
      }
    } catch {
      // the iterator ended with an error: nothing more to pass over
    }
    await closing;
    await flush().catch((err) => log.error({ err }, "final flush failed; messages will be redelivered"));
    await Promise.all(inFlight);
    metrics.lastFlush.set({ stage }, Date.now() / 1000);
    log.info("stage stopped");
  }
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

async function settle<T>(ctx: LoopContext<T>, batch: JsMsg[]): Promise<void> {
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
    msg.nak();
    metrics.messages.inc({ stage, outcome: "fenced" });
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

export function deadFrom(err: PermanentError, extra: Partial<DlqEntry> = {}): Outcome {
  return { kind: "dead", entry: { reason: err.reason, detail: err.message, ...extra } };
}
