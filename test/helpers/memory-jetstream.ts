// A small in-memory message source for unit tests of the consumer runner:
// one durable consumer whose messages a test pushes, records of every ack,
// nak, term and working() each message got (with the time, fake or not), and
// the messages published (the dead letters). Integration tests use a real
// nats-server instead; this is only what the runner's own logic needs.
import type { JetStreamClient, JsMsg } from "@nats-io/jetstream";

export interface AckRecord {
  kind: "ack" | "nak" | "term" | "working";
  at: number;
  delayMs?: number;
}

export class MemoryMsg {
  readonly acks: AckRecord[] = [];
  readonly headers = undefined;
  readonly info: { stream: string; streamSequence: number; deliveryCount: number; timestampNanos: number };
  constructor(
    readonly subject: string,
    readonly data: Uint8Array,
    seq: number,
    deliveryCount = 1,
  ) {
    this.info = { stream: "TEST", streamSequence: seq, deliveryCount, timestampNanos: Date.now() * 1e6 };
  }
  json(): unknown {
    return JSON.parse(Buffer.from(this.data).toString("utf8"));
  }
  /** The final acknowledgement, if any (what JetStream would act on). */
  get settled(): AckRecord | undefined {
    return this.acks.find((a) => a.kind !== "working");
  }
  private record(kind: AckRecord["kind"], delayMs?: number): void {
    // As nats.js: nothing is sent after a final acknowledgement.
    if (this.settled) return;
    this.acks.push({ kind, at: Date.now(), delayMs });
  }
  ack(): void {
    this.record("ack");
  }
  nak(delayMs?: number): void {
    this.record("nak", delayMs);
  }
  term(): void {
    this.record("term");
  }
  working(): void {
    this.record("working");
  }
}

export interface Published {
  subject: string;
  data: string;
  msgID?: string;
}

export function createMemoryJetStream(opts: { ackWaitMs?: number } = {}) {
  const queue: MemoryMsg[] = [];
  let waiter: ((r: IteratorResult<JsMsg>) => void) | null = null;
  let failer: ((err: Error) => void) | null = null;
  let seq = 0;
  let consumes = 0;
  /** Errors `consumers.get` throws, one per call, before it succeeds again. */
  const getFailures: Error[] = [];
  const published: Published[] = [];
  let open: { end(): void; fail(err: Error): void } | null = null;

  function consume() {
    consumes++;
    let closed = false;
    const end = () => {
      closed = true;
      waiter?.({ done: true, value: undefined });
      waiter = failer = null;
    };
    open = {
      end,
      fail(err) {
        const f = failer;
        waiter = failer = null;
        f?.(err);
      },
    };
    const iterator: AsyncIterator<JsMsg> = {
      next() {
        if (closed) return Promise.resolve({ done: true, value: undefined });
        const m = queue.shift();
        if (m) return Promise.resolve({ done: false, value: m as unknown as JsMsg });
        return new Promise((resolve, reject) => {
          waiter = resolve;
          failer = reject;
        });
      },
    };
    return {
      [Symbol.asyncIterator]: () => iterator,
      close: async () => end(),
    };
  }

  const js = {
    consumers: {
      async get() {
        const err = getFailures.shift();
        if (err) throw err;
        return {
          info: async () => ({ config: { ack_wait: (opts.ackWaitMs ?? 30_000) * 1e6 } }),
          consume: async () => consume(),
        };
      },
    },
    async publish(subject: string, data: string | Uint8Array, o?: { msgID?: string }) {
      published.push({ subject, data: typeof data === "string" ? data : Buffer.from(data).toString("utf8"), msgID: o?.msgID });
      return { seq: published.length, duplicate: false, stream: "DLQ" };
    },
  } as unknown as JetStreamClient;

  return {
    js,
    published,
    getFailures,
    /** How many times the runner opened the consumer's message stream. */
    consumes: () => consumes,
    /** Delivers a message (a value as JSON, or raw bytes). */
    push(body: unknown, subject = "test.m", deliveryCount = 1): MemoryMsg {
      const data = body instanceof Uint8Array ? body : Buffer.from(JSON.stringify(body));
      const m = new MemoryMsg(subject, data, ++seq, deliveryCount);
      if (waiter) {
        const w = waiter;
        waiter = failer = null;
        w({ done: false, value: m as unknown as JsMsg });
      } else queue.push(m);
      return m;
    },
    /** The open message stream fails (a consumer deleted, a protocol error). */
    failStream(err: Error): void {
      open?.fail(err);
    },
    /** The open message stream ends as if the client closed it. */
    endStream(): void {
      open?.end();
    },
  };
}
