// The ledger sink: parse priced batches, drop duplicates inside the batch and
// those already stored, insert the rest in one idempotent insert, and only
// then acknowledge. A batch ClickHouse refuses is retried message by message
// so one poison message cannot block the others. With several instances,
// each handler serves one partition it holds a lease on, and checks the lease
// (the fence) before the stored-id check and again before the insert: an
// instance that lost its partition writes nothing more for it.
import type { PricedEvent } from "../../schemas/index.ts";
import { PermanentError, TransientError, errorMessage } from "../errors.ts";
import type { Logger } from "../observability/log.ts";
import type { Metrics } from "../observability/metrics.ts";
import type { BatchHandler, Outcome } from "../runner/consumer-runner.ts";
import { deadFrom } from "../runner/consumer-runner.ts";
import { tenantEventKey } from "./ledger-row.ts";
import { isRejection, type LedgerStore } from "./ledger-store.ts";
import { rejectedOf } from "./priced-decoder.ts";
import type { DlqEntry } from "../runner/dlq.ts";
import type { Fence } from "../leases/lease-manager.ts";

/**
 * The ledger's handler: its messages are decoded by the runner with the
 * priced decoder (priced-decoder.ts), whose refusals never reach it.
 */
export interface LedgerDeps {
  store: LedgerStore;
  metrics: Metrics;
  log: Logger;
  /** The lease of the partition this handler serves; absent: this process is the only writer. */
  fence?: Fence;
}

export function createLedgerHandler(deps: LedgerDeps): BatchHandler<PricedEvent[]> {
  const { store, metrics } = deps;
  /** Freshness of recent events and cost by tenant and model, for dashboards (the ledger holds the exact sums). */
  function observeStored(events: PricedEvent[]): void {
    const now = Date.now();
    // Cost summed per tenant and model first: one counter update per series and batch, not per event.
    const cost = new Map<string, { tenant: string; model: string; usd: number }>();
    for (const e of events) {
      const age = (now - Date.parse(e.time)) / 1000;
      if (age >= 0 && age <= 600) metrics.ledgerFreshness.observe(age);
      // A counter only goes up: credits (negative amounts) show in the ledger, not here.
      const usd = e.cost_usd === null ? 0 : Number(e.cost_usd);
      if (!(usd > 0)) continue;
      const model = e.model || e.kind;
      const k = `${e.tenant}\u0000${model}`;
      const sum = cost.get(k);
      if (sum) sum.usd += usd;
      else cost.set(k, { tenant: e.tenant, model, usd });
    }
    for (const c of cost.values()) metrics.addCost(c.tenant, c.model, c.usd);
  }
  // The check for stored ids and the insert run strictly one batch after
  // another, so two batches holding the same event can never both see it as
  // new; parsing the next batch may overlap with the current insert.
  let lane: Promise<unknown> = Promise.resolve();
  const serial = <T>(fn: () => Promise<T>): Promise<T> => {
    const run = lane.then(fn, fn);
    lane = run.catch(() => undefined);
    return run;
  };

  const assertHeld = () => {
    if (deps.fence && !deps.fence.held())
      throw new TransientError("unavailable", `the lease of partition ${deps.fence.partition} was lost; its new owner takes over`);
  };

  /** Inserts the events of these messages that are new; throws on failure. */
  async function writeNew(groups: PricedEvent[][]): Promise<number> {
    assertHeld();
    const seen = new Set<string>();
    const unique: PricedEvent[] = [];
    for (const e of groups.flat()) {
      const k = tenantEventKey(e);
      if (seen.has(k)) {
        metrics.ledgerDuplicates.inc({ where: "batch" });
        continue;
      }
      seen.add(k);
      unique.push(e);
    }
    const stored = await store.existingKeys(unique);
    const fresh = unique.filter((e) => !stored.has(tenantEventKey(e)));
    if (stored.size) metrics.ledgerDuplicates.inc({ where: "stored" }, unique.length - fresh.length);
    assertHeld();
    await store.insert(fresh); // timed by table in costline_clickhouse_insert_seconds (observability/clickhouse-timing.ts)
    metrics.events.inc({ stage: "ledger", result: "inserted" }, fresh.length);
    observeStored(fresh);
    return fresh.length;
  }

  return async (batch) => {
    const outcomes: Outcome[] = new Array(batch.length);
    const parsed = batch.map(({ value: events }, index): { index: number; events: PricedEvent[]; dlq?: DlqEntry[] } => {
      const rejected = rejectedOf(events);
      return { index, events, dlq: rejected.length ? rejected.map(rejectedEntry) : undefined };
    });
    try {
      await serial(() => writeNew(parsed.map((p) => p.events)));
      for (const p of parsed) outcomes[p.index] = { kind: "done", dlq: p.dlq };
    } catch (err) {
      if (err instanceof TransientError || !isRejection(err)) {
        const error =
          err instanceof TransientError
            ? err
            : new TransientError("unavailable", `ledger insert failed: ${errorMessage(err)}`, { cause: err });
        for (const p of parsed) outcomes[p.index] = { kind: "retry", error };
        return outcomes;
      }
      deps.log.warn({ err: errorMessage(err) }, "ClickHouse refused a batch; inserting message by message");
      for (const p of parsed) {
        try {
          await serial(() => writeNew([p.events]));
          outcomes[p.index] = { kind: "done", dlq: p.dlq };
        } catch (one) {
          outcomes[p.index] = isRejection(one)
            ? deadFrom(new PermanentError("poison", `ClickHouse refused the rows: ${errorMessage(one)}`))
            : { kind: "retry", error: new TransientError("unavailable", errorMessage(one)) };
        }
      }
    }
    return outcomes;
  };
}

/** A priced batch's bad element as its own dead letter (the original element as payload, for `dlq retry`). */
function rejectedEntry(r: { index: number; error: PermanentError; raw: unknown }): DlqEntry {
  const o = (r.raw ?? {}) as Record<string, unknown>;
  const str = (v: unknown) => (typeof v === "string" && v.length <= 256 ? v : undefined);
  return {
    reason: r.error.reason,
    detail: r.error.message,
    batchIndex: r.index,
    payload: Buffer.from(JSON.stringify(r.raw) ?? "null"),
    eventId: str(o.event_id),
    source: str(o.source),
  };
}
