// A budget scope's spend as stored in the ledger, per 15-minute bucket: what
// the detector seeds a budget with, and what the API reports as its state.
import type { ClickHouseClient } from "@clickhouse/client";
import type { ControlScope } from "../../schemas/index.ts";
import { queryRows } from "../clickhouse/client.ts";
import { chTime } from "../ledger/ledger-row.ts";
import { sqlFile } from "../queries/sql-files.ts";

export interface SpendBucket {
  bucket: Date;
  spend: string;
}

export async function readSpendBuckets(client: ClickHouseClient, scope: ControlScope, from: Date, to: Date): Promise<SpendBucket[]> {
  const rows = await queryRows<{ bucket: string; spend: string }>(client, sqlFile("budget_spend_buckets"), {
    tenant: scope.tenant,
    from: chTime(from.toISOString()),
    to: chTime(to.toISOString()),
    persona_id: scope.persona_id ?? "",
    feature: scope.feature ?? "",
    user_id: scope.user_id ?? "",
    model: scope.model ?? "",
  });
  return rows.map((r) => ({ bucket: new Date(`${r.bucket.replace(" ", "T")}Z`), spend: r.spend }));
}
