// The ledger's ClickHouse side: which of these events are already stored, and
// an idempotent insert (deduplication token over the batch's keys, applied to
// the ledger and to every materialized view fed from it).
import type { ClickHouseClient } from "@clickhouse/client";
import { ClickHouseError } from "@clickhouse/client";
import type { PricedEvent } from "../../schemas/index.ts";
import { TransientError, errorMessage } from "../errors.ts";
import { insertIdempotentText, queryRows } from "../clickhouse/client.ts";
import { chTime, ledgerColumns, ledgerInsertBody, tenantEventKey } from "./ledger-row.ts";

export interface LedgerStore {
  /** Keys (tenantEventKey) among `events` that the ledger already holds. */
  existingKeys(events: PricedEvent[]): Promise<Set<string>>;
  insert(events: PricedEvent[]): Promise<void>;
}

/**
 * The errors ClickHouse raises for the data of an insert (a value it cannot
 * parse, out of its type's range): retrying the same rows can never succeed.
 * Only these are refusals. Any other error — a timeout, memory, too many
 * parts, a cancelled query, an error a proxy or the embedded engine's HTTP
 * endpoint answers for the engine — is retried, and a message that keeps
 * failing reaches the DLQ after its last delivery anyway, so an error
 * missing here costs retries, never an event.
 */
const DATA_ERRORS =
  /^(CANNOT_PARSE_[A-Z0-9_]+|ARGUMENT_OUT_OF_BOUND|INCORRECT_DATA|TYPE_MISMATCH|DECIMAL_OVERFLOW|VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE|CANNOT_INSERT_NULL_IN_ORDINARY_COLUMN|INCORRECT_NUMBER_OF_COLUMNS|CANNOT_READ_ARRAY_FROM_TEXT|CANNOT_READ_MAP_FROM_TEXT|TOO_LARGE_STRING_SIZE|CANNOT_CONVERT_TYPE)$/;

/** A query the server understood and refused for its data, rather than one that failed for the server's state or the connection. */
export function isRejection(err: unknown): boolean {
  return err instanceof ClickHouseError && DATA_ERRORS.test(err.type ?? "");
}

export function createLedgerStore(client: ClickHouseClient, lookbackDays: number): LedgerStore {
  return {
    async existingKeys(events) {
      if (events.length === 0) return new Set();
      const tenants = [...new Set(events.map((e) => e.tenant))];
      const ids = [...new Set(events.map((e) => e.event_id))];
      const minTime = events.reduce((m, e) => (e.time < m ? e.time : m), events[0]!.time);
      const since = new Date(Math.min(Date.parse(minTime), Date.now() - lookbackDays * 86_400_000));
      try {
        const rows = await queryRows<{ tenant: string; source: string; event_id: string }>(
          client,
          // Primary-key prefix (tenant) plus the event_id bloom filter keep this a point lookup.
          `SELECT tenant, source, event_id FROM costline.ledger
           WHERE tenant IN {tenants:Array(String)} AND event_id IN {ids:Array(String)} AND time >= {since:DateTime64(3, 'UTC')}`,
          { tenants, ids, since: chTime(since.toISOString()) },
        );
        return new Set(rows.map(tenantEventKey));
      } catch (err) {
        throw new TransientError("unavailable", `ledger lookup failed: ${errorMessage(err)}`, { cause: err });
      }
    },
    async insert(events) {
      if (events.length === 0) return;
      const data = { format: "JSONCompactEachRow", columns: ledgerColumns, body: ledgerInsertBody(events) } as const;
      await insertIdempotentText(client, "costline.ledger", data, events.map(tenantEventKey));
    },
  };
}
