// The shapes a stage and the runner share: the outcomes a handler returns,
// the handler, the runner's options and a running loop. Apart from the loop
// (consumer-runner.ts) and the settling (settle.ts) so both import them
// without importing each other.
import type { JetStreamClient, JsMsg } from "@nats-io/jetstream";
import type { PermanentError, TransientError } from "../errors.ts";
import type { Subjects } from "../nats/subjects.ts";
import type { Logger } from "../observability/log.ts";
import type { Metrics } from "../observability/metrics.ts";
import type { Decoder, Delivery } from "./decoder.ts";
import type { DlqEntry, DlqWriter } from "./dlq.ts";
import type { Supervisor } from "./supervisor.ts";

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
  /**
   * With it, `flushMs` is the least time between the starts of two flushes rather than every batch's wait:
   * a batch that begins after a quiet spell is flushed `lingerMs` after its first message, and under steady
   * traffic the flushes still come at most one a `flushMs` (the ledger: one insert a second per partition).
   */
  lingerMs?: number;
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

/** Nak delay for a temporary failure: exponential in the delivery count, capped, with jitter. */
export function retryDelayMs(deliveryCount: number, random = Math.random): number {
  const base = Math.min(30_000, 250 * 2 ** Math.max(0, deliveryCount - 1));
  return Math.round(base / 2 + random() * (base / 2));
}

export function deadFrom(err: PermanentError, extra: Partial<DlqEntry> = {}): Outcome {
  return { kind: "dead", entry: { reason: err.reason, detail: err.message, ...extra } };
}
