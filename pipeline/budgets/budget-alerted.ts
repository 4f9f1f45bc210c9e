// The budget thresholds already alerted in a period, read back from the
// alerts the detector raised (stored by the alert-store stage): after a
// restart the detector marks them crossed instead of alerting them again.
import type { ClickHouseClient } from "@clickhouse/client";
import { queryRows } from "../clickhouse/client.ts";
import { alertFingerprint } from "../findings/finding.ts";
import { chTime } from "../ledger/ledger-row.ts";
import { sqlFile } from "../queries/sql-files.ts";

export async function readAlertedThresholds(
  client: ClickHouseClient,
  tenant: string,
  candidates: readonly { threshold: number; series: string }[],
  from: Date,
): Promise<number[]> {
  if (!candidates.length) return [];
  const byFingerprint = new Map(candidates.map((c) => [alertFingerprint("budget", c.series), c.threshold] as const));
  const rows = await queryRows<{ fingerprint: string }>(client, sqlFile("budget_alerted"), {
    tenant,
    fingerprints: [...byFingerprint.keys()],
    from: chTime(from.toISOString()),
  });
  return rows.map((r) => byFingerprint.get(r.fingerprint)).filter((t): t is number => t !== undefined);
}
