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
// letter goes through one writer (dlq.ts); settling a batch is settle.ts. A
// loop that fails is restarted by the supervisor (supervisor.ts). Every stage
// gets the same metrics (messages by outcome, batch sizes, batch time, dead
// letters by reason) and log lines that name the event's trace and request id
// when its message carries them.
import type { JsMsg } from "@nats-io/jetstream";
import { createDlqWriter } from "./dlq.ts";
import { createKeepAlive } from "./keep-alive.ts";
import { retriedForAnother } from "./message-meta.ts";
import { passOver, settle, type LoopContext } from "./settle.ts";
import type { RunnerOptions, RunningStage } from "./stage-types.ts";
import { createSupervisor } from "./supervisor.ts";

export type { Decoder, Delivery } from "./decoder.ts";
export { deadFrom, retryDelayMs, type BatchHandler, type Outcome, type RunnerOptions, type RunningStage } from "./stage-types.ts";

const TIMER = Symbol("timer");
const STOP = Symbol("stop");

/** The ack wait assumed when the consumer's info does not say (JetStream's default). */
const DEFAULT_ACK_WAIT_MS = 30_000;

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
    fencedDelayMs: DEFAULT_ACK_WAIT_MS,
  };
  const supervisor = opts.supervisor ?? createSupervisor();
  const done = supervisor
    .run(loopName(opts.stage, opts.durable), () => run(ctx, () => (lastFlush = Date.now())), { signal: opts.signal, log: opts.log })
    .finally(() => ctx.keepAlive.stop());
  return { name: opts.stage, done, lastFlushAt: () => lastFlush };
}

async function run<T>(ctx: LoopContext<T>, flushed: () => void): Promise<void> {
  const { opts } = ctx;
  const { log, metrics, stage } = opts;
  const consumer = await opts.js.consumers.get(opts.stream, opts.durable);
  const ackWaitNs = (await consumer.info(true).catch(() => undefined))?.config.ack_wait;
  const ackWaitMs = ackWaitNs ? ackWaitNs / 1e6 : DEFAULT_ACK_WAIT_MS;
  ctx.keepAlive.start(ackWaitMs);
  ctx.fencedDelayMs = ackWaitMs;
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
  let lastFlushAt = Number.NEGATIVE_INFINITY;
  const firstWait = () =>
    opts.lingerMs === undefined ? opts.flushMs : Math.max(opts.lingerMs, Math.ceil(lastFlushAt + opts.flushMs - Date.now()));
  let pending: Promise<IteratorResult<JsMsg>> | null = null;

  const inFlight = new Set<Promise<void>>();
  const concurrency = Math.max(1, opts.concurrency ?? 1);
  const flush = async () => {
    timer = null;
    if (buffer.length === 0) return;
    const batch = buffer;
    buffer = [];
    bufferedBytes = 0;
    lastFlushAt = Date.now();
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
      if (opts.fence && !opts.fence()) {
        // Fenced off the partition: no handling, and no pulling it again at once (see passOver).
        passOver(ctx, msg);
        continue;
      }
      buffer.push(msg);
      bufferedBytes += msg.data.byteLength;
      if (buffer.length === 1) timer = after(firstWait());
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
