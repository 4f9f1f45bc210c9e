// The alerts a tenant can read: filters by state, severity, type, scope and
// detection time, newest first, one bounded page at a time.
import type { ClickHouseClient } from "@clickhouse/client";
import * as z from "zod";
import { alertSeverities, alertTypes } from "../../schemas/index.ts";
import { queryRows } from "../clickhouse/client.ts";
import { chTime } from "../ledger/ledger-row.ts";
import { sqlFile } from "./sql-files.ts";

export const MAX_ALERTS_PAGE = 500;

const listOf = <T extends string>(allowed: readonly T[]) =>
  z
    .union([z.string(), z.array(z.string())])
    .optional()
    .transform((v) =>
      v === undefined
        ? []
        : (Array.isArray(v) ? v : [v])
            .flatMap((s) => s.split(","))
            .map((s) => s.trim())
            .filter(Boolean),
    )
    .pipe(z.array(z.enum(allowed)));

export const alertsQuerySchema = z.object({
  state: z.enum(["firing", "resolved", "all"]).default("all"),
  severity: listOf(alertSeverities),
  type: listOf(alertTypes),
  scope: z.string().max(64).optional(),
  from: z.iso.datetime({ offset: true }).optional(),
  to: z.iso.datetime({ offset: true }).optional(),
  limit: z.coerce.number().int().min(1).max(MAX_ALERTS_PAGE).default(100),
  offset: z.coerce.number().int().min(0).max(100_000).default(0),
});
export type AlertsQuery = z.infer<typeof alertsQuerySchema>;

export interface AlertRow {
  id: string;
  fingerprint: string;
  type: string;
  severity: string;
  status: "firing" | "resolved";
  tenant: string;
  scope: string;
  scope_key: Record<string, string>;
  observed: string;
  expected: string;
  multiplier: number | null;
  score: number | null;
  window_start: string;
  window_end: string;
  first_seen: string;
  detected_at: string;
  message: string;
  evidence: Record<string, { key: string; cost_usd: string; share: number }[]>;
}

const iso = (chTimeText: string) => `${chTimeText.replace(" ", "T")}Z`;

function parseEvidence(text: string): AlertRow["evidence"] {
  try {
    const v = JSON.parse(text) as unknown;
    return v && typeof v === "object" ? (v as AlertRow["evidence"]) : {};
  } catch {
    return {};
  }
}

/** One page of alerts; `tenant` undefined means every tenant (admins only). */
export async function listAlerts(client: ClickHouseClient, q: AlertsQuery, tenant: string | undefined): Promise<AlertRow[]> {
  type Raw = Omit<AlertRow, "evidence"> & { evidence: string };
  const rows = await queryRows<Raw>(client, sqlFile("alerts_list"), {
    tenant: tenant ?? "",
    status: q.state === "all" ? "" : q.state,
    severities: q.severity,
    types: q.type,
    scope: q.scope ?? "",
    from: chTime(q.from ?? "1970-01-01T00:00:00Z"),
    to: chTime(q.to ?? "2299-12-31T00:00:00Z"),
    limit: q.limit,
    offset: q.offset,
  });
  return rows.map((r) => ({
    ...r,
    window_start: iso(r.window_start),
    window_end: iso(r.window_end),
    first_seen: iso(r.first_seen),
    detected_at: iso(r.detected_at),
    evidence: parseEvidence(r.evidence),
  }));
}

/**
 * The likeliest cause an alert's evidence names: the single contributor with
 * the largest share of the cost, across models, operations, posts and users.
 */
export function likelyCause(
  a: Pick<AlertRow, "evidence">,
): { dimension: string; key: string; share: number; cost_usd: string } | undefined {
  let best: { dimension: string; key: string; share: number; cost_usd: string } | undefined;
  for (const [dim, list] of Object.entries(a.evidence)) {
    for (const c of Array.isArray(list) ? list : []) {
      if (!best || c.share > best.share) best = { dimension: dim.replace(/^by_/, ""), key: c.key, share: c.share, cost_usd: c.cost_usd };
    }
  }
  return best;
}
