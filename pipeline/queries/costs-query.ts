// GET /v1/costs: windowed cost aggregation in any time zone, grouped by any
// attribution key, with filters. A small builder: identifiers come from a
// fixed list, every value is a bound parameter, and the finest rollup that
// holds every needed column is read instead of the raw ledger.
import * as z from "zod";
import { PermanentError } from "../errors.ts";
import { isTimeZone } from "../../schemas/index.ts";

export const groupKeys = ["kind", "provider", "model", "persona_id", "feature", "operation", "user_id", "post_id", "tenant"] as const;
export type GroupKey = (typeof groupKeys)[number];
export const granularities = ["minute", "hour", "day", "week", "month"] as const;

const list = (allowed: readonly string[]) =>
  z
    .string()
    .optional()
    .transform((v) =>
      v
        ? v
            .split(",")
            .map((s) => s.trim())
            .filter(Boolean)
        : [],
    )
    .refine((keys) => keys.every((k) => allowed.includes(k)), `one or more of ${allowed.join(", ")}`);

export const costsQuerySchema = z
  .object({
    from: z.iso.datetime({ offset: true }),
    to: z.iso.datetime({ offset: true }),
    granularity: z.enum(granularities).default("day"),
    tz: z.string().default("UTC").refine(isTimeZone, "an IANA time zone such as Europe/Berlin"),
    group_by: list(groupKeys),
    /** Repeated `filter=key:value`. */
    filter: z
      .union([z.string(), z.array(z.string())])
      .optional()
      .transform((v) => (v === undefined ? [] : Array.isArray(v) ? v : [v])),
    tenant: z.string().max(128).optional(),
  })
  .refine((q) => Date.parse(q.from) < Date.parse(q.to), "from must be before to")
  .refine(
    (q) => Date.parse(q.to) - Date.parse(q.from) <= 400 * 86_400_000 || q.granularity !== "minute",
    "minute granularity covers at most 400 days",
  );
export type CostsQuery = z.infer<typeof costsQuerySchema>;

interface Source {
  table: string;
  time: string;
  grainMinutes: number;
  columns: readonly string[];
  measures: string;
}

const sum = (c: string) => `sum(${c})`;
const rollupMeasures = [
  `${sum("events")} AS events`,
  `${sum("unpriced_events")} AS unpriced_events`,
  `toString(${sum("cost_usd")}) AS cost_usd`,
  `toString(${sum("revenue_usd")}) AS revenue_usd`,
  `${sum("input_tokens")} AS input_tokens`,
  `${sum("output_tokens")} AS output_tokens`,
].join(", ");

// Finest grain last: the first source that holds every column and a fine enough grain wins.
const sources: Source[] = [
  {
    table: "costline.ledger_hour",
    time: "hour",
    grainMinutes: 60,
    columns: ["tenant", "kind", "provider", "model", "persona_id", "feature", "operation"],
    measures: rollupMeasures,
  },
  // 0009: hourly by user and by post (the explorer's high-cardinality group-bys).
  {
    table: "costline.ledger_hour_user",
    time: "hour",
    grainMinutes: 60,
    columns: ["tenant", "kind", "provider", "model", "persona_id", "feature", "user_id"],
    measures: rollupMeasures,
  },
  {
    table: "costline.ledger_hour_post",
    time: "hour",
    grainMinutes: 60,
    columns: ["tenant", "kind", "provider", "model", "persona_id", "feature", "post_id"],
    measures: rollupMeasures,
  },
  {
    table: "costline.ledger_minute",
    time: "minute",
    grainMinutes: 1,
    columns: ["tenant", "kind", "provider", "model"],
    measures: rollupMeasures,
  },
  {
    table: "costline.ledger FINAL",
    time: "time",
    grainMinutes: 0,
    columns: groupKeys,
    measures: [
      "count() AS events",
      "countIf(NOT priced) AS unpriced_events",
      "toString(sum(ifNull(cost_usd, toDecimal128(0, 12)))) AS cost_usd",
      "toString(sum(revenue_usd)) AS revenue_usd",
      "sum(input_tokens) AS input_tokens",
      "sum(output_tokens) AS output_tokens",
    ].join(", "),
  },
];

/** One offset formatter per zone (the zones are valid ones, checked by the query's schema, so the map stays bounded). */
const offsetFormats = new Map<string, Intl.DateTimeFormat>();
/** Minutes the zone is off UTC at `at` (to tell whether hourly rollups align with its hours). */
function offsetMinutes(tz: string, at: Date): number {
  let format = offsetFormats.get(tz);
  if (!format) offsetFormats.set(tz, (format = new Intl.DateTimeFormat("en-US", { timeZone: tz, timeZoneName: "longOffset" })));
  const parts = format.formatToParts(at);
  const name = parts.find((p) => p.type === "timeZoneName")?.value ?? "GMT";
  const m = /GMT([+-])(\d{2}):?(\d{2})?/.exec(name);
  return m ? (m[1] === "-" ? -1 : 1) * (Number(m[2]) * 60 + Number(m[3] ?? 0)) : 0;
}

function bucketExpr(granularity: CostsQuery["granularity"], column: string): string {
  const t = `toTimeZone(${column}, {tz:String})`;
  switch (granularity) {
    case "minute":
      return `toStartOfMinute(${t})`;
    case "hour":
      return `toStartOfHour(${t})`;
    case "day":
      return `toStartOfDay(${t})`;
    case "week":
      return `toDateTime(toMonday(${t}), {tz:String})`;
    case "month":
      return `toDateTime(toStartOfMonth(${t}), {tz:String})`;
  }
}

export interface BuiltQuery {
  sql: string;
  params: Record<string, unknown>;
  source: string;
}

export interface CostsPlan {
  /** The table read (a rollup, or the ledger with FINAL). */
  table: string;
  /** Its time column. */
  time: string;
  /** Its measures: events, unpriced_events, cost_usd (text), revenue_usd (text), input_tokens, output_tokens. */
  measures: string;
  /** The time-bucket expression of the granularity over the time column. */
  bucket: string;
  where: string[];
  params: Record<string, unknown>;
}

/**
 * Where and how a costs query reads: the finest source holding every key it
 * groups or filters by, its time range, scope and filters as bound
 * conditions. `tenant` is the caller's scope (undefined: every tenant, admins only).
 */
export function planCosts(q: CostsQuery, tenant: string | undefined): CostsPlan {
  const filters = q.filter.map((f) => {
    const i = f.indexOf(":");
    const key = i > 0 ? f.slice(0, i) : "";
    if (!(groupKeys as readonly string[]).includes(key))
      throw new PermanentError("validation", `filter "${f}": expected key:value with key one of ${groupKeys.join(", ")}`);
    return { key, value: f.slice(i + 1) };
  });
  const needed = new Set<string>([...q.group_by, ...filters.map((f) => f.key), "tenant"]);
  const grainNeeded = q.granularity === "minute" ? 1 : 60;
  const hourAligned = offsetMinutes(q.tz, new Date(q.from)) % 60 === 0 && offsetMinutes(q.tz, new Date(q.to)) % 60 === 0;
  const source =
    sources.find(
      (s) =>
        [...needed].every((c) => s.columns.includes(c)) &&
        (s.grainMinutes === 0 || (s.grainMinutes <= grainNeeded && (s.grainMinutes < 60 || hourAligned))),
    ) ?? sources[sources.length - 1]!;

  const params: Record<string, unknown> = { tz: q.tz, from: q.from, to: q.to };
  const where = [
    `${source.time} >= parseDateTime64BestEffort({from:String}, 3, 'UTC')`,
    `${source.time} < parseDateTime64BestEffort({to:String}, 3, 'UTC')`,
  ];
  if (tenant !== undefined) {
    where.push("tenant = {scope_tenant:String}");
    params.scope_tenant = tenant;
  }
  filters.forEach((f, i) => {
    where.push(`${f.key} = {f${i}:String}`);
    params[`f${i}`] = f.value;
  });
  return {
    table: source.table,
    time: source.time,
    measures: source.measures,
    bucket: bucketExpr(q.granularity, source.time),
    where,
    params,
  };
}

/** Builds the aggregation; `tenant` is the caller's scope (undefined: every tenant, admins only). */
export function buildCostsQuery(q: CostsQuery, tenant: string | undefined): BuiltQuery {
  const plan = planCosts(q, tenant);
  const keys = q.group_by.join(", ");
  const sql = [
    `SELECT toString(${plan.bucket}) AS bucket${keys ? `, ${keys}` : ""}, ${plan.measures}`,
    `FROM ${plan.table}`,
    `WHERE ${plan.where.join(" AND ")}`,
    `GROUP BY bucket${keys ? `, ${keys}` : ""}`,
    // ORDER BY: time buckets in order, then the group keys for a stable order.
    `ORDER BY bucket${keys ? `, ${keys}` : ""}`,
    "LIMIT 100000",
  ].join("\n");
  return { sql, params: plan.params, source: plan.table.replace(" FINAL", "") };
}
