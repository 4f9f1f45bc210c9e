// The pipeline's backlog as JetStream sees it: per durable consumer, the
// messages not yet delivered and those delivered but not yet acknowledged.
import type { JetStreamManager } from "@nats-io/jetstream";
import { pipelineConsumersFor } from "../pipeline/nats/topology.ts";
import { waitFor } from "../test/helpers/stack-process.ts";

export type Backlog = Record<string, { pending: number; ack_pending: number }>;

export async function backlog(jsm: JetStreamManager): Promise<Backlog> {
  const out: Backlog = {};
  // The partitioned stages have one consumer per partition (COSTLINE_PARTITIONS, default 8).
  for (const c of pipelineConsumersFor(Number(process.env.COSTLINE_PARTITIONS ?? 8))) {
    const info = await jsm.consumers.info(c.stream, c.durable);
    out[c.durable] = { pending: info.num_pending, ack_pending: info.num_ack_pending };
  }
  return out;
}

/** Undelivered messages summed over the pipeline's consumers. */
export const undelivered = (b: Backlog) => Object.values(b).reduce((a, x) => a + x.pending, 0);

// The notifier keeps an alert unacknowledged while it waits in its group; that is not backlog.
const holdsAlerts = new Set(["notifier"]);

/** True when enrich and the ledger sink hold nothing: every published event has been priced and inserted. */
export const ledgerCaughtUp = (b: Backlog) =>
  b.enrich !== undefined &&
  Object.entries(b).every(([d, x]) => (d !== "enrich" && !d.startsWith("ledger-p")) || (x.pending === 0 && x.ack_pending === 0));

/**
 * Waits until no consumer has undelivered messages and, with `settled`, none
 * holds unacknowledged ones either (the windower holds each message until its
 * next checkpoint). Polls NATS only, so the wait costs
 * the pipeline process nothing. Returns the milliseconds it took.
 */
export async function waitForDrain(jsm: JetStreamManager, opts: { settled?: boolean; timeoutMs?: number } = {}): Promise<number> {
  const started = Date.now();
  let busy: [string, { pending: number; ack_pending: number }][] = [];
  try {
    await waitFor(
      "the pipeline's backlog to drain",
      async () => {
        const b = await backlog(jsm);
        busy = Object.entries(b).filter(
          ([durable, x]) => x.pending > 0 || (opts.settled === true && !holdsAlerts.has(durable) && x.ack_pending > 0),
        );
        return busy.length ? undefined : true;
      },
      opts.timeoutMs ?? 300_000,
    );
  } catch (err) {
    // Which consumers still held messages: the one that never drained is the one to look at.
    throw new Error(`${(err as Error).message}; still busy: ${JSON.stringify(Object.fromEntries(busy))}`, { cause: err });
  }
  return Date.now() - started;
}
