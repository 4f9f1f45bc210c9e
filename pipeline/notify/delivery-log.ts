// Writes delivery log rows to costline.notification_log in batches: rows
// collect for up to `flushMs` (or `maxRows`), one insert carries them, and
// each caller's promise resolves once its rows are stored — the notifier
// acknowledges an alert only after that. A failed insert is retried with the
// same deduplication token, so a retry never doubles rows. Timers only
// signal; one loop does the inserting. Every text field is redacted before
// it is queued: the channels' secrets and anything credential-like a
// receiver echoed never reach the table (channel-secrets.ts).
import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import type { ClickHouseClient } from "@clickhouse/client";
import type { DeliveryRecord } from "../../schemas/index.ts";
import { insertIdempotent } from "../clickhouse/client.ts";
import { chTime } from "../ledger/ledger-row.ts";
import type { Logger } from "../observability/log.ts";
import { scrubSecrets } from "../observability/log.ts";

interface Pending {
  rows: { row: Record<string, unknown>; id: string }[];
  done: () => void;
}

export function createDeliveryLog(deps: {
  client: ClickHouseClient;
  log: Logger;
  flushMs?: number;
  maxRows?: number;
  redact?: (text: string) => string;
}) {
  const redact = deps.redact ?? scrubSecrets;
  const clean = (r: DeliveryRecord): Record<string, unknown> =>
    Object.fromEntries(
      Object.entries(r).map(([k, v]) => [k, k === "attempted_at" ? chTime(String(v)) : typeof v === "string" ? redact(v) : v]),
    );
  const flushMs = deps.flushMs ?? 100;
  const maxRows = deps.maxRows ?? 1000;
  let queue: Pending[] = [];
  let wake: (() => void) | null = null;
  let timer: NodeJS.Timeout | null = null;
  const signal = () => {
    if (timer) {
      clearTimeout(timer);
      timer = null;
    }
    wake?.();
  };

  let closing = false;
  const loop = (async () => {
    for (;;) {
      if (queue.length === 0) {
        if (closing) return;
        await new Promise<void>((resolve) => (wake = resolve));
        wake = null;
        continue;
      }
      const batch = queue;
      queue = [];
      const rows = batch.flatMap((p) => p.rows);
      for (let attempt = 1; ; attempt++) {
        try {
          await insertIdempotent(
            deps.client,
            "costline.notification_log",
            rows.map((r) => r.row),
            rows.map((r) => r.id),
          );
          break;
        } catch (err) {
          deps.log.warn({ err, rows: rows.length, attempt }, "delivery log insert failed; retrying");
          await sleep(Math.min(5000, 200 * 2 ** attempt));
          if (closing && attempt >= 5) {
            deps.log.error({ rows: rows.length }, "delivery log rows dropped at shutdown: ClickHouse did not take them");
            break;
          }
        }
      }
      for (const p of batch) p.done();
    }
  })();

  return {
    /** Resolves when the rows are in ClickHouse. */
    write(records: readonly DeliveryRecord[]): Promise<void> {
      if (records.length === 0) return Promise.resolve();
      return new Promise<void>((done) => {
        queue.push({
          rows: records.map((r) => ({ row: clean(r), id: randomUUID() })),
          done,
        });
        const size = queue.reduce((n, p) => n + p.rows.length, 0);
        if (size >= maxRows) signal();
        else timer ??= setTimeout(signal, flushMs);
      });
    },
    /** Writes what is queued and stops. */
    async close(): Promise<void> {
      closing = true;
      signal();
      await loop;
    },
  };
}
export type DeliveryLog = ReturnType<typeof createDeliveryLog>;
