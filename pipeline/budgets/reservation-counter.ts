// One atomic counter per hard budget and period in the costline-reservations
// KV bucket: the ledger's spend at the last sync, the settled costs the ledger
// has not shown yet, and the open holds. Every change is a compare-and-set on
// the entry's revision (`kv.update(key, value, revision)`), retried on a
// conflict, so any number of processes can reserve against one budget and
// reserved + spent never passes its amount.
//
// Changes submitted while a write is in flight are applied together in the
// next one: with 50 concurrent requests in a process, the process makes one
// compare-and-set per round, not 50 that conflict with each other.
import type { KV } from "@nats-io/kv";
import { JetStreamApiError } from "@nats-io/jetstream";
import { reservationCounterSchema, type ReservationCounter } from "../../schemas/index.ts";
import { TransientError, errorMessage } from "../errors.ts";

/** A change to one counter: mutates the draft, returns its result (applied only if the write succeeds). */
export type CounterOp<T> = (draft: ReservationCounter, now: number) => T;

const wrongRevision = (err: unknown) =>
  (err instanceof JetStreamApiError && (err.code === 10071 || err.code === 10164)) || /wrong last sequence/i.test(errorMessage(err));

/** The amounts that count against the budget at `now`: expired holds are dropped from the draft. */
export function counterUsage(c: ReservationCounter, now: number): { ledger: bigint; settled: bigint; reserved: bigint } {
  let reserved = 0n;
  for (const [id, h] of Object.entries(c.holds)) {
    if (h.expires_at <= now) delete c.holds[id];
    else reserved += BigInt(h.amount);
  }
  let settled = 0n;
  for (const s of Object.values(c.settled)) settled += BigInt(s.amount);
  return { ledger: BigInt(c.ledger), settled, reserved };
}

export function emptyCounter(budgetKey: string, periodStart: string): ReservationCounter {
  return { budget_key: budgetKey, period_start: periodStart, ledger: "0", holds: {}, settled: {} };
}

interface Pending {
  op: CounterOp<unknown>;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
}

export interface CounterClientOptions {
  kv: KV;
  /** How long one write may take before the change fails (NATS unreachable). */
  timeoutMs?: number;
  /** Compare-and-set attempts before giving up (each after a short jittered pause). */
  maxAttempts?: number;
}

export function createCounterClient(opts: CounterClientOptions) {
  const timeoutMs = opts.timeoutMs ?? 2_000;
  const maxAttempts = opts.maxAttempts ?? 200;
  const queues = new Map<string, { pending: Pending[]; running: boolean; init: () => ReservationCounter }>();

  async function write(key: string, ops: Pending[], init: () => ReservationCounter): Promise<unknown[]> {
    const deadline = Date.now() + timeoutMs;
    for (let attempt = 1; ; attempt++) {
      const e = await withTimeout(opts.kv.get(key), deadline, key);
      const live = e && e.operation === "PUT" && e.value.length > 0;
      const parsed = live ? reservationCounterSchema.safeParse(e.json()) : undefined;
      const draft = parsed?.success ? parsed.data : init();
      const now = Date.now();
      const results = ops.map((p) => p.op(draft, now));
      const value = JSON.stringify(draft);
      try {
        // A deleted or unreadable entry is replaced on its revision like any other.
        if (e) await withTimeout(opts.kv.update(key, value, e.revision), deadline, key);
        else await withTimeout(opts.kv.create(key, value), deadline, key);
        return results;
      } catch (err) {
        if (!wrongRevision(err) && !/exists/i.test(errorMessage(err))) throw err;
        if (attempt >= maxAttempts || Date.now() >= deadline)
          throw new TransientError("timeout", `reservation counter ${key}: still conflicting after ${attempt} attempts`);
        // Another process wrote first: read again after a pause that spreads the contenders out.
        await new Promise((r) => setTimeout(r, Math.random() * Math.min(50, 2 * attempt)));
      }
    }
  }

  async function drain(key: string): Promise<void> {
    const q = queues.get(key)!;
    q.running = true;
    while (q.pending.length) {
      const batch = q.pending.splice(0);
      try {
        const results = await write(key, batch, q.init);
        batch.forEach((p, i) => p.resolve(results[i]));
      } catch (err) {
        const wrapped =
          err instanceof TransientError
            ? err
            : new TransientError("unavailable", `reservation counter ${key}: ${errorMessage(err)}`, { cause: err });
        for (const p of batch) p.reject(wrapped);
      }
    }
    q.running = false;
    queues.delete(key);
  }

  return {
    /** Applies `op` to the counter at `key` atomically (creating it with `init` when absent); resolves with its result. */
    apply<T>(key: string, op: CounterOp<T>, init: () => ReservationCounter): Promise<T> {
      let q = queues.get(key);
      if (!q) queues.set(key, (q = { pending: [], running: false, init }));
      const p = new Promise<T>((resolve, reject) => q!.pending.push({ op, resolve: resolve as (v: unknown) => void, reject }));
      if (!q.running) void drain(key);
      return p;
    },
    /** The counter as stored (no write), or undefined. */
    async read(key: string): Promise<ReservationCounter | undefined> {
      const e = await withTimeout(opts.kv.get(key), Date.now() + timeoutMs, key);
      if (!e || e.operation !== "PUT" || !e.value.length) return undefined;
      const parsed = reservationCounterSchema.safeParse(e.json());
      return parsed.success ? parsed.data : undefined;
    },
  };
}
export type CounterClient = ReturnType<typeof createCounterClient>;

async function withTimeout<T>(p: Promise<T>, deadline: number, key: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new TransientError("timeout", `reservation counter ${key}: no answer from NATS in time`)),
      Math.max(1, deadline - Date.now()),
    );
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
