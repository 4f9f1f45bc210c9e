// The console explorer's two bounded reads over GET /v1/costs's plan (same
// source choice, scope and filters): the top groups of the range with their
// totals and how many groups there are, then the time series of the few
// largest groups with everything else folded into one "other" series. Both
// answers stay small whatever the cardinality of the key (a post or a user
// may have hundreds of thousands of values), so the page never carries the
// full bucket × group table; the CSV export reads that one.
import type { ClickHouseClient } from "@clickhouse/client";
import { queryRows } from "../clickhouse/client.ts";
import { PermanentError } from "../errors.ts";
import { planCosts, type CostsPlan, type CostsQuery } from "./costs-query.ts";

/** The most buckets one chart holds; a finer granularity over a longer range is refused. */
export const MAX_EXPLORER_BUCKETS = 10_000;
const STEP_MS: Record<string, number> = { minute: 60_000, hour: 3_600_000, day: 86_400_000, week: 7 * 86_400_000, month: 28 * 86_400_000 };

export interface ExplorerGroup {
  group: string;
  events: number;
  unpriced_events: number;
  cost_usd: string;
}

export interface ExplorerPoint {
  bucket: string;
  /** The group's value; "" with `other` for the groups outside the charted ones. */
  group: string;
  other: boolean;
  cost_usd: string;
}

export interface ExplorerResult {
  /** The largest groups first (at most `maxGroups`). */
  groups: ExplorerGroup[];
  /** How many groups the range has in all, and their totals. */
  groupCount: number;
  total: { events: number; cost_usd: string };
  series: ExplorerPoint[];
  /** The table read (a rollup or the ledger). */
  source: string;
}

export interface ExplorerOptions {
  /** Groups listed (default 500). */
  maxGroups?: number;
  /** Groups charted as their own series (default 8). */
  maxSeries?: number;
}

/** Aggregates of the plan's source: the ledger counts rows, a rollup sums its counts. */
function aggregates(plan: CostsPlan) {
  return plan.table.startsWith("costline.ledger FINAL")
    ? { events: "count()", unpriced: "countIf(NOT priced)", cost: "sum(ifNull(cost_usd, toDecimal128(0, 12)))" }
    : { events: "sum(events)", unpriced: "sum(unpriced_events)", cost: "sum(cost_usd)" };
}

export function explorerGroupsSql(plan: CostsPlan, key: string | undefined): string {
  const a = aggregates(plan);
  return [
    "SELECT g, events, unpriced_events, toString(cost) AS cost_usd,",
    "  count() OVER () AS group_count, sum(events) OVER () AS total_events, toString(sum(cost) OVER ()) AS total_usd",
    `FROM (SELECT ${key ?? "''"} AS g, ${a.events} AS events, ${a.unpriced} AS unpriced_events, ${a.cost} AS cost`,
    `  FROM ${plan.table} WHERE ${plan.where.join(" AND ")} GROUP BY g)`,
    // ORDER BY: the largest cost first (the rows a reader looks for), then the name for a stable order.
    "ORDER BY cost DESC, g",
    "LIMIT {explorer_limit:UInt32}",
  ].join("\n");
}

export function explorerSeriesSql(plan: CostsPlan, key: string | undefined): string {
  const a = aggregates(plan);
  const k = key ?? "''";
  return [
    `SELECT toString(${plan.bucket}) AS bucket, if(has({explorer_top:Array(String)}, ${k}), ${k}, '') AS g,`,
    `  NOT has({explorer_top:Array(String)}, ${k}) AS is_other, toString(${a.cost}) AS cost_usd`,
    `FROM ${plan.table} WHERE ${plan.where.join(" AND ")}`,
    "GROUP BY bucket, g, is_other",
    // ORDER BY: buckets in time order, the charted groups before "other".
    "ORDER BY bucket, is_other, g",
    `LIMIT ${MAX_EXPLORER_BUCKETS * 16}`,
  ].join("\n");
}

/** Refuses a chart of more than MAX_EXPLORER_BUCKETS buckets (minutes over a month, say). */
export function checkBuckets(q: CostsQuery): void {
  const buckets = (Date.parse(q.to) - Date.parse(q.from)) / STEP_MS[q.granularity]!;
  if (buckets > MAX_EXPLORER_BUCKETS)
    throw new PermanentError(
      "validation",
      `${Math.ceil(buckets)} ${q.granularity} buckets is more than the ${MAX_EXPLORER_BUCKETS} a chart holds: choose a coarser granularity or a shorter range`,
    );
}

/** `q.group_by` holds at most one key here (the explorer groups by one). */
export async function exploreCosts(
  client: ClickHouseClient,
  q: CostsQuery,
  tenant: string | undefined,
  o: ExplorerOptions = {},
): Promise<ExplorerResult> {
  if (q.group_by.length > 1) throw new PermanentError("validation", "the explorer groups by one key at a time");
  checkBuckets(q);
  const plan = planCosts(q, tenant);
  const key = q.group_by[0];
  const maxGroups = o.maxGroups ?? 500;
  const maxSeries = o.maxSeries ?? 8;
  const rows = await queryRows<Record<string, string | number>>(client, explorerGroupsSql(plan, key), {
    ...plan.params,
    explorer_limit: maxGroups,
  });
  const groups = rows.map((r) => ({
    group: String(r.g),
    events: Number(r.events),
    unpriced_events: Number(r.unpriced_events),
    cost_usd: String(r.cost_usd),
  }));
  const top = groups.slice(0, maxSeries).map((g) => g.group);
  const series =
    groups.length === 0
      ? []
      : (
          await queryRows<{ bucket: string; g: string; is_other: number | boolean; cost_usd: string }>(
            client,
            explorerSeriesSql(plan, key),
            { ...plan.params, explorer_top: top },
          )
        ).map((r) => ({ bucket: r.bucket, group: r.g, other: Boolean(Number(r.is_other)), cost_usd: r.cost_usd }));
  return {
    groups,
    groupCount: Number(rows[0]?.group_count ?? 0),
    total: { events: Number(rows[0]?.total_events ?? 0), cost_usd: String(rows[0]?.total_usd ?? "0") },
    series,
    source: plan.table.replace(" FINAL", ""),
  };
}
