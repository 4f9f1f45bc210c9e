// Stores every alert published on the alerts subject in costline.alerts, then
// acknowledges. The insert carries a deduplication token, and the table
// collapses repeats of an alert id.
import type { ClickHouseClient } from "@clickhouse/client";
import { insertIdempotent } from "../clickhouse/client.ts";
import type { JsMsg } from "@nats-io/jetstream";
import { alertSchema, type Alert } from "../../schemas/index.ts";
import { PermanentError, TransientError, errorMessage, formatIssues } from "../errors.ts";
import { chTime } from "../ledger/ledger-row.ts";
import type { BatchHandler, Outcome } from "../runner/consumer-runner.ts";
import { deadFrom } from "../runner/consumer-runner.ts";

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

export function createAlertStoreHandler(client: ClickHouseClient): BatchHandler {
  return async (batch: JsMsg[]) => {
    const outcomes: Outcome[] = new Array(batch.length);
    const rows: { index: number; alert: Alert }[] = [];
    batch.forEach((msg, index) => {
      let raw: unknown;
      try {
        raw = msg.json();
      } catch (err) {
        outcomes[index] = deadFrom(new PermanentError("not_json", `alert is not JSON: ${errorMessage(err)}`));
        return;
      }
      const parsed = alertSchema.safeParse(raw);
      if (parsed.success) rows.push({ index, alert: parsed.data });
      else outcomes[index] = deadFrom(new PermanentError("validation", `alert: ${formatIssues(parsed.error)}`));
    });
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
