// The one consumer loop every stage runs on. It owns the durable pull
// consumer, collects messages into batches (by count, or by time since the
// first buffered message), hands each batch to the stage's pure handler and
// applies the ack policy to the outcomes:
//   done  → DLQ records for the batch's bad elements, then ack
//   dead  → DLQ record, then term (never retried)
//   retry → nak with jittered backoff; on the last allowed delivery, DLQ + term
// A message is acknowledged only after the handler made its effect durable.
// Every stage gets the same metrics (messages by outcome, batch sizes, batch
// time, dead letters by reason) and log lines that name the event's trace and
// request id when its message carries them.
import { setTimeout as sleep } from "node:timers/promises";
import type { JetStreamClient, JsMsg } from "@nats-io/jetstream";
import type { Logger } from "../observability/log.ts";
import type { Metrics } from "../observability/metrics.ts";
import type { Subjects } from "../nats/subjects.ts";
import { PermanentError, TransientError, errorMessage } from "../errors.ts";
import { RETRY_STAGE_HEADER, eventIds, publishDlq, type DlqEntry } from "./dlq.ts";

export type Outcome =
  | { kind: "done"; dlq?: DlqEntry[] }
  | { kind: "dead"; entry: DlqEntry }
  | { kind: "retry"; error: TransientError }
  /** The effect becomes durable later (a window published when it closes): settle then. */
  | { kind: "deferred"; until: Promise<Outcome> };

/** A stage: a function of a batch of messages returning one outcome per message, in order. */
export type BatchHandler = (batch: JsMsg[]) => Promise<Outcome[]>;

export interface RunnerOptions {
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
  handle: BatchHandler;
  /**
   * Partition ownership (leases/lease-manager.ts): once false, this instance
   * lost the partition and settles nothing more; its messages are passed back
   * with a nak for the new owner.
   */
  fence?: () => boolean;
  log: Logger;
  metrics: Metrics;
  signal: AbortSignal;
}

export interface RunningStage {
  name: string;
  /** Resolves when the loop has stopped and the last batch was settled. */
  done: Promise<void>;
  lastFlushAt(): number;
}

const TIMER = Symbol("timer");
const STOP = Symbol("stop");

/** Nak delay for a temporary failure: exponential in the delivery count, capped, with jitter. */
export function retryDelayMs(deliveryCount: number, random = Math.random): number {
  const base = Math.min(30_000, 250 * 2 ** Math.max(0, deliveryCount - 1));
  return Math.round(base / 2 + random() * (base / 2));
}

export function startStage(opts: RunnerOptions): RunningStage {
  let lastFlush = Date.now();
  const done = run(opts, () => (lastFlush = Date.now()));
  return { name: opts.stage, done, lastFlushAt: () => lastFlush };
}

async function run(opts: RunnerOptions, flushed: () => void): Promise<void> {
  const { log, metrics, stage } = opts;
  const messages = await openConsumer(opts);
  if (!messages) return;
  const it = messages[Symbol.asyncIterator]();
  // A fresh stop promise per wait, never one promise for the loop's life: every Promise.race adds a
  // reaction to each promise it races, and a promise that stays pending keeps them all — each holding
  // the race's result, the message — so one long-lived stop promise retained every message received.
  let wake: ((stop: typeof STOP) => void) | null = null;
  opts.signal.addEventListener("abort", () => wake?.(STOP), { once: true });
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
    const p: Promise<void> = settle(opts, batch).then(flushed, (err) => log.error({ err }, "settling a batch failed"));
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
      if (retriedForAnother(next.value, stage)) {
        // `costline dlq retry` sent it back for another stage on the same subject: not ours to redo.
        next.value.ack();
        metrics.messages.inc({ stage, outcome: "skipped" });
        continue;
      }
      buffer.push(next.value);
      bufferedBytes += next.value.data.byteLength;
      if (buffer.length === 1) timer = sleep(opts.flushMs).then(() => TIMER);
      if (buffer.length >= opts.maxBatch || bufferedBytes >= maxBytes) await flush();
    }
  } finally {
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

/**
 * The durable consumer's message stream. Looking the consumer up is a request
 * that can time out (a busy server, a loaded machine): it is retried until the
 * stage stops, since a loop that ended here would leave its stage (or its
 * partition, whose lease stays held) consuming nothing. Undefined once stopped.
 */
async function openConsumer(opts: RunnerOptions) {
  for (let attempt = 1; ; attempt++) {
    try {
      const consumer = await opts.js.consumers.get(opts.stream, opts.durable);
      return await consumer.consume({ max_messages: Math.max(opts.maxBatch * 2, 100) });
    } catch (err) {
      if (opts.signal.aborted) return undefined;
      opts.log.warn(
        { err: errorMessage(err), attempt, stream: opts.stream, durable: opts.durable },
        "could not open the consumer; retrying",
      );
      await sleep(retryDelayMs(attempt), undefined, { signal: opts.signal }).catch(() => undefined);
      if (opts.signal.aborted) return undefined;
    }
  }
}

async function settle(opts: RunnerOptions, batch: JsMsg[]): Promise<void> {
  const { stage, metrics, log } = opts;
  const end = metrics.flushSeconds.startTimer({ stage });
  metrics.batchSize.observe({ stage }, batch.length);
  let outcomes: Outcome[];
  try {
    outcomes = await opts.handle(batch);
    if (outcomes.length !== batch.length) throw new Error(`handler returned ${outcomes.length} outcomes for ${batch.length} messages`);
  } catch (err) {
    const error =
      err instanceof TransientError
        ? err
        : new TransientError("unavailable", `${stage} batch failed: ${errorMessage(err)}`, { cause: err });
    if (!(err instanceof TransientError)) log.error({ err }, "batch handler threw; retrying the batch");
    outcomes = batch.map(() => ({ kind: "retry", error }));
  }
  // The common case, done with nothing for the DLQ, is acknowledged here and counted once per batch.
  let acked = 0;
  const rest: Promise<void>[] = [];
  for (let i = 0; i < batch.length; i++) {
    const outcome = outcomes[i]!;
    if (outcome.kind === "done" && !outcome.dlq?.length) {
      batch[i]!.ack();
      acked++;
    } else rest.push(apply(opts, batch[i]!, outcome));
  }
  if (acked) metrics.messages.inc({ stage, outcome: "ack" }, acked);
  await Promise.all(rest);
  end();
  metrics.lastFlush.set({ stage }, Date.now() / 1000);
}

async function apply(opts: RunnerOptions, msg: JsMsg, outcome: Outcome): Promise<void> {
  const { stage, metrics, log } = opts;
  if (outcome.kind === "deferred") {
    // Not awaited: the batch is settled, this message waits for its effect.
    void outcome.until.then(
      (later) => apply(opts, msg, later),
      (err) => apply(opts, msg, { kind: "retry", error: new TransientError("unavailable", errorMessage(err)) }),
    );
    return;
  }
  if (opts.fence && !opts.fence()) {
    msg.nak();
    metrics.messages.inc({ stage, outcome: "fenced" });
    return;
  }
  try {
    if (outcome.kind === "done") {
      for (const entry of outcome.dlq ?? []) await sendToDlq(opts, msg, entry);
      msg.ack();
      metrics.messages.inc({ stage, outcome: "ack" });
    } else if (outcome.kind === "dead") {
      await sendToDlq(opts, msg, outcome.entry);
      // No reason text: nats-server before 2.10 does not parse "+TERM <reason>" and
      // leaves the message unacknowledged (redelivered until max deliveries).
      // The reason is in the DLQ record.
      msg.term();
      metrics.messages.inc({ stage, outcome: "dead" });
    } else if (msg.info.deliveryCount >= opts.maxDeliver) {
      // JetStream would stop redelivering after this attempt: park it in the DLQ instead of losing it.
      await sendToDlq(opts, msg, {
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

async function sendToDlq(opts: RunnerOptions, msg: JsMsg, entry: DlqEntry): Promise<void> {
  const r = await publishDlq(opts.js, opts.subjects, opts.stage, msg, entry);
  opts.metrics.dlq.inc({ stage: opts.stage, reason: entry.reason });
  opts.log.warn(
    {
      reason: r.reason,
      subject: r.subject,
      seq: r.stream_seq,
      batchIndex: r.batch_index,
      deliveries: r.deliveries,
      tenant: r.tenant,
      eventId: r.event_id,
      traceId: r.trace_id,
      requestId: r.request_id,
    },
    `dead letter: ${r.detail}`,
  );
}

const retryHeaderBytes = Buffer.from(RETRY_STAGE_HEADER);

/**
 * False when the message's raw header block cannot hold the retry header:
 * spares parsing the headers (every message has Nats-Msg-Id) on the hot path.
 * Reads the client's message internals where they are as expected, and
 * otherwise answers true so the parsed headers decide.
 */
function mayCarryRetryHeader(msg: JsMsg): boolean {
  const inner = (msg as unknown as { msg?: { _msg?: { hdr?: unknown }; _rdata?: unknown } }).msg;
  const hdr = inner?._msg?.hdr;
  const raw = inner?._rdata;
  if (typeof hdr !== "number" || !(raw instanceof Uint8Array)) return true;
  if (hdr <= 0) return false;
  return Buffer.from(raw.buffer, raw.byteOffset, Math.min(hdr, raw.byteLength)).indexOf(retryHeaderBytes) >= 0;
}

function retriedForAnother(msg: JsMsg, stage: string): boolean {
  if (!mayCarryRetryHeader(msg)) return false;
  const target = msg.headers?.get(RETRY_STAGE_HEADER);
  return Boolean(target) && target !== stage;
}

/** The ids a log line about one message can carry: its Nats-Msg-Id, and the trace and request of a single event. */
function messageIds(msg: JsMsg): Record<string, string | undefined> {
  const msgId = msg.headers?.get("Nats-Msg-Id") || undefined;
  // A batch names no single trace: only a lone event (a JSON object) up to 64 KiB is looked into.
  if (msg.data.byteLength > 65_536 || msg.data[0] !== 0x7b) return { msgId };
  const ids = eventIds(msg.data);
  return { msgId, tenant: ids.tenant, traceId: ids.trace_id, requestId: ids.request_id };
}

export function deadFrom(err: PermanentError, extra: Partial<DlqEntry> = {}): Outcome {
  return { kind: "dead", entry: { reason: err.reason, detail: err.message, ...extra } };
}
