// Stores every alert published on the alerts subject in costline.alerts, then
// acknowledges. The insert carries a deduplication token, and the table
// collapses repeats of an alert id.
import type { ClickHouseClient } from "@clickhouse/client";
import { insertIdempotent } from "../clickhouse/client.ts";
import { alertSchema, type Alert } from "../../schemas/index.ts";
import { TransientError, errorMessage } from "../errors.ts";
import { chTime } from "../ledger/ledger-row.ts";
import type { BatchHandler, Outcome } from "../runner/consumer-runner.ts";
import { schemaDecoder } from "../runner/decoder.ts";

/** Every alert stage reads one alert per message. */
export const alertDecoder = schemaDecoder(alertSchema, "alert");

export function alertRow(a: Alert): Record<string, unknown> {
  return {
    ...a,
    window_start: chTime(a.window_start),
    window_end: chTime(a.window_end),
    first_seen: chTime(a.first_seen),
    detected_at: chTime(a.detected_at),
    evidence: JSON.stringify(a.evidence),
  };
}

export function createAlertStoreHandler(client: ClickHouseClient): BatchHandler<Alert> {
  return async (batch) => {
    const outcomes: Outcome[] = new Array(batch.length);
    const rows = batch.map(({ value: alert }, index) => ({ index, alert }));
    if (rows.length) {
      try {
        await insertIdempotent(
          client,
          "costline.alerts",
          rows.map((r) => alertRow(r.alert)),
          rows.map((r) => `${r.alert.id}|${r.alert.status}|${r.alert.detected_at}`),
        );
      } catch (err) {
        const error = new TransientError("unavailable", `alert insert failed: ${errorMessage(err)}`, { cause: err });
        for (const r of rows) outcomes[r.index] = { kind: "retry", error };
        return outcomes;
      }
    }
    for (const r of rows) outcomes[r.index] = { kind: "done" };
    return outcomes;
  };
}
