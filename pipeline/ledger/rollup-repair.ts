// Puts back rollup rows a crash cut off. An insert into the ledger writes the
// ledger's part first and then each materialized view's; a process killed in
// between (the embedded engine dies with it) leaves ledger rows whose rollup
// rows were never written, and the retried batch skips them as already
// stored. So before the ledger sink consumes, for the groups touched by the
// last rows ingested (only the latest inserts can have been in flight), each
// rollup is compared with the same aggregation over the ledger, and the
// missing amounts are inserted: the rollups sum their rows, so a row holding
// the difference completes the group exactly.
//
// With several ledger-sink instances, each repairs only the partitions it has
// just taken a lease on, before consuming them: their former owner is fenced
// and nobody else writes their tenants, so no insert is in flight while the
// difference is taken (a repair of all tenants could count an insert of
// another instance that has written the ledger's part but not yet the views').
//
// The aggregations here are those of the materialized views in
// clickhouse/migrations (0001, 0004); the chaos suite checks they agree.
import type { ClickHouseClient } from "@clickhouse/client";
import { queryRows } from "../clickhouse/client.ts";
import type { Logger } from "../observability/log.ts";
import { partitionSql } from "../nats/partition.ts";

/** Restricts a repair to the tenants of one partition. */
export interface RepairScope {
  partition: number;
  partitions: number;
}

const scopeSql = (scope?: RepairScope) =>
  scope && scope.partitions > 1 ? ` AND ${partitionSql("tenant", scope.partitions)} = {partition:UInt32}` : "";

interface RollupSpec {
  table: string;
  /** Rollup column → the ledger expression it groups by. */
  keys: [string, string][];
  /** Rollup column → the ledger aggregate it holds; "sum" ones are completed by their difference. */
  sums: [string, string][];
  /** Min/max columns: the ledger's value is inserted as is (min and max are idempotent). */
  extremes?: [string, string][];
  where?: string;
}

const money = "sum(ifNull(cost_usd, toDecimal128(0, 12)))";
const common: [string, string][] = [
  ["events", "count()"],
  ["unpriced_events", "countIf(NOT priced)"],
  ["cost_usd", money],
];

export const rollupSpecs: RollupSpec[] = [
  {
    table: "ledger_minute",
    keys: [
      ["minute", "toStartOfMinute(time)"],
      ["tenant", "tenant"],
      ["kind", "kind"],
      ["provider", "provider"],
      ["model", "model"],
    ],
    sums: [...common, ["revenue_usd", "sum(revenue_usd)"], ["input_tokens", "sum(input_tokens)"], ["output_tokens", "sum(output_tokens)"]],
  },
  {
    table: "ledger_hour",
    keys: [
      ["hour", "toStartOfHour(time)"],
      ["tenant", "tenant"],
      ["kind", "kind"],
      ["provider", "provider"],
      ["model", "model"],
      ["persona_id", "persona_id"],
      ["feature", "feature"],
      ["operation", "operation"],
    ],
    sums: [
      ...common,
      ["llm_requests", "countIf(kind = 'llm')"],
      ["revenue_usd", "sum(revenue_usd)"],
      ["input_tokens", "sum(input_tokens)"],
      ["output_tokens", "sum(output_tokens)"],
    ],
  },
  {
    table: "ledger_day_user",
    keys: [
      ["day", "toDate(time)"],
      ["tenant", "tenant"],
      ["provider", "provider"],
      ["model", "model"],
      ["user_id", "user_id"],
    ],
    sums: [
      ...common,
      ["llm_requests", "countIf(kind = 'llm')"],
      ["input_tokens", "sum(input_tokens)"],
      ["output_tokens", "sum(output_tokens)"],
    ],
  },
  {
    table: "ledger_post",
    keys: [
      ["tenant", "tenant"],
      ["post_id", "post_id"],
      ["kind", "kind"],
      ["provider", "provider"],
      ["model", "model"],
      ["persona_id", "persona_id"],
    ],
    sums: [
      ...common,
      ["llm_requests", "countIf(kind = 'llm')"],
      ["revenue_usd", "sum(revenue_usd)"],
      ["input_tokens", "sum(input_tokens)"],
      ["output_tokens", "sum(output_tokens)"],
    ],
    extremes: [
      ["first_time", "min(time)"],
      ["last_time", "max(time)"],
    ],
    where: "post_id != ''",
  },
  // 0009 (its views, in clickhouse/migrations): hourly by user and by post, for the console's explorer.
  ...(["user_id", "post_id"] as const).map((key): RollupSpec => ({
    table: key === "user_id" ? "ledger_hour_user" : "ledger_hour_post",
    keys: [
      ["hour", "toStartOfHour(time)"],
      ["tenant", "tenant"],
      [key, key],
      ...(["persona_id", "kind", "provider", "model", "feature"].map((c) => [c, c]) as [string, string][]),
    ],
    sums: [...common, ["revenue_usd", "sum(revenue_usd)"], ["input_tokens", "sum(input_tokens)"], ["output_tokens", "sum(output_tokens)"]],
  })),
];

/** The INSERT … SELECT that completes one rollup's groups touched by rows ingested since {since}. */
export function repairSql(spec: RollupSpec, scope?: RepairScope): string {
  const keyCols = spec.keys.map(([c]) => c);
  const keyTuple = `(${spec.keys.map(([, e]) => e).join(", ")})`;
  const filter = (spec.where ? ` AND ${spec.where}` : "") + scopeSql(scope);
  const touched = `SELECT DISTINCT ${keyTuple} FROM costline.ledger WHERE ingested_at >= {since:DateTime64(3, 'UTC')}${filter}`;
  const expected =
    `SELECT ${spec.keys.map(([c, e]) => `${e} AS ${c}`).join(", ")}, ` +
    `${[...spec.sums, ...(spec.extremes ?? [])].map(([c, e]) => `${e} AS ${c}`).join(", ")} ` +
    `FROM costline.ledger FINAL WHERE ${keyTuple} IN (${touched})${filter} GROUP BY ${keyCols.join(", ")}`;
  const stored =
    `SELECT ${keyCols.join(", ")}, ${spec.sums.map(([c]) => `sum(${c}) AS ${c}`).join(", ")} ` +
    `FROM costline.${spec.table} WHERE (${keyCols.join(", ")}) IN (${touched}) GROUP BY ${keyCols.join(", ")}`;
  const cols = [...keyCols, ...spec.sums.map(([c]) => c), ...(spec.extremes ?? []).map(([c]) => c)];
  const values = [
    ...keyCols.map((c) => `l.${c}`),
    ...spec.sums.map(([c]) => `l.${c} - r.${c}`),
    ...(spec.extremes ?? []).map(([c]) => `l.${c}`),
  ];
  // Only groups the rollup holds fewer events of than the ledger: a crash can
  // only have cut rows off. (join_use_nulls is off: an absent group reads as zeros.)
  return (
    `INSERT INTO costline.${spec.table} (${cols.join(", ")}) ` +
    `SELECT ${values.join(", ")} FROM (${expected}) AS l LEFT JOIN (${stored}) AS r USING (${keyCols.join(", ")}) ` +
    `WHERE l.events > r.events`
  );
}

/** Completes every rollup for the groups touched by the rows ingested in the `lookbackS` before the latest one. */
export async function repairRollups(
  client: ClickHouseClient,
  log: Logger,
  lookbackS = 300,
  scope?: RepairScope,
): Promise<Record<string, number>> {
  const partition = scopeSql(scope) ? { partition: scope!.partition } : {};
  const [latest] = await queryRows<{ at: string | null }>(
    client,
    `SELECT toString(max(ingested_at)) AS at FROM costline.ledger WHERE 1${scopeSql(scope)}`,
    partition,
  );
  if (!latest?.at || latest.at.startsWith("1970")) return {};
  const since = new Date(Date.parse(`${latest.at.replace(" ", "T")}Z`) - lookbackS * 1000).toISOString().replace("T", " ").replace("Z", "");
  const repaired: Record<string, number> = {};
  for (const spec of rollupSpecs) {
    const before = await countOf(client, spec.table);
    await client.command({ query: repairSql(spec, scope), query_params: { since, ...partition } });
    const added = (await countOf(client, spec.table)) - before;
    if (added > 0) repaired[spec.table] = added;
  }
  if (Object.keys(repaired).length)
    log.warn({ repaired, since, partition: scope?.partition }, "rollup rows a crash had cut off were put back");
  return repaired;
}

async function countOf(client: ClickHouseClient, table: string): Promise<number> {
  const [r] = await queryRows<{ n: number | string }>(client, `SELECT count() AS n FROM costline.${table}`);
  return Number(r?.n ?? 0);
}
