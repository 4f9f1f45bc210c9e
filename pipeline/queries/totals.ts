// Exact ledger totals: {"events": n, "cost_usd": "decimal", "unpriced_events": n}.
import type { ClickHouseClient } from "@clickhouse/client";
import * as z from "zod";
import { queryRows } from "../clickhouse/client.ts";
import { chTime } from "../ledger/ledger-row.ts";
import { sqlFile } from "./sql-files.ts";

export const totalsQuerySchema = z.object({
  tenant: z.string().max(128).optional(),
  from: z.iso.datetime({ offset: true }).optional(),
  to: z.iso.datetime({ offset: true }).optional(),
});
export type TotalsQuery = z.infer<typeof totalsQuerySchema>;

export interface Totals {
  events: number;
  cost_usd: string;
  unpriced_events: number;
}

export async function ledgerTotals(client: ClickHouseClient, q: TotalsQuery): Promise<Totals> {
  const [row] = await queryRows<{ events: string | number; cost_usd: string; unpriced_events: string | number }>(
    client,
    sqlFile("totals"),
    {
      tenant: q.tenant ?? "",
      from: chTime(q.from ?? "1970-01-01T00:00:00Z"),
      to: chTime(q.to ?? "2299-12-31T00:00:00Z"),
    },
  );
  return { events: Number(row?.events ?? 0), cost_usd: row?.cost_usd ?? "0", unpriced_events: Number(row?.unpriced_events ?? 0) };
}
