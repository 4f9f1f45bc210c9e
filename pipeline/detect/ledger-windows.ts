// Rebuilds a tenant's window aggregates from the ledger, as the windower
// would have published them final: the same epoch-aligned event-time
// windows, scopes, keys, money breakdowns and top posts and users. The
// ledger replay (`costline detect --tenant`) runs them through the engine.
// Late events the windower refused (past the allowed lateness) are in the
// ledger, so they count here: the one way a replay can differ.
import type { ClickHouseClient } from "@clickhouse/client";
import * as z from "zod";
import { queryRows } from "../clickhouse/client.ts";
import { groupBy } from "../group-by.ts";
import { chTime } from "../ledger/ledger-row.ts";
import { fromPico, toPico } from "../pricing/decimal.ts";
import type { WindowAggregate } from "../../schemas/index.ts";

type Scope = WindowAggregate["scope"];

/** The scopes a replay can rebuild, with their key columns. Per-user windows exist for user budgets only. */
export const replayScopes = {
  tenant: [],
  tenant_model: ["provider", "model"],
  tenant_persona: ["persona_id"],
  tenant_feature: ["feature"],
  tenant_operation: ["operation"],
  post: ["post_id"],
} as const satisfies Partial<Record<Scope, readonly string[]>>;
export type ReplayScope = keyof typeof replayScopes;
export const replayScopeNames = Object.keys(replayScopes) as ReplayScope[];

export const ledgerWindowsQuerySchema = z.object({
  tenant: z.string().min(1).max(128),
  scopes: z.array(z.enum(replayScopeNames as [ReplayScope, ...ReplayScope[]])).min(1),
  from: z.iso.datetime({ offset: true }),
  to: z.iso.datetime({ offset: true }),
  window_s: z.coerce.number().int().min(1).max(86_400),
});
export type LedgerWindowsQuery = z.infer<typeof ledgerWindowsQuerySchema>;

/** The most windows one replay returns: a wider range is refused with a hint to narrow it. */
export const MAX_REPLAY_WINDOWS = 500_000;

/**
 * Every requested scope in one scan: each ledger row is repeated once per scope it counts in (arrayJoin over
 * a tuple per scope: its index, its one or two key values, and the key that must be non-empty: the
 * windower's rule), then grouped. The embedded engine spends 6–9 ms planning each (sub)query however
 * little it reads, so two queries for every scope, not three per scope, is most of a quiet tenant's replay.
 * Only fixed column names from replayScopes reach the SQL text; every value is bound.
 */
function scopesJoin(scopes: readonly ReplayScope[]): string {
  const tuples = scopes.map((scope, i) => {
    const keys = replayScopes[scope] as readonly string[];
    const col = (k: string | undefined) => (k ? `toString(${k})` : "''");
    return `(toUInt8(${i}), ${col(keys[0])}, ${col(keys[1])}, ${keys.length ? col(keys.at(-1)) : "'all'"})`;
  });
  return `arrayJoin(arrayFilter(s -> s.4 != '', [${tuples.join(", ")}]))`;
}

const windowedLedger = (columns: string, extraWhere = "") =>
  `SELECT intDiv(toUnixTimestamp64Milli(time), {window_ms:UInt64}) * {window_ms:UInt64} AS start_ms, ${columns}
  FROM costline.ledger FINAL
  WHERE tenant = {tenant:String} AND time >= {from:DateTime64(3, 'UTC')} AND time < {to:DateTime64(3, 'UTC')}${extraWhere}`;

function breakdownSql(scopes: readonly ReplayScope[]): string {
  // Aliases never repeat a column's name: ClickHouse would read the alias inside other aggregates.
  return `SELECT start_ms, sk.1 AS scope_index, sk.2 AS key1, sk.3 AS key2, model, operation,
       count() AS events, countIf(NOT priced) AS unpriced_events, countIf(cost_usd IS NOT NULL) AS costed,
       toString(sum(ifNull(cost_usd, toDecimal128(0, 12)))) AS cost_text, toString(sum(revenue_usd)) AS revenue_text,
       sum(input_tokens) AS in_tokens, sum(output_tokens) AS out_tokens, countIf(kind = 'llm') AS requests
FROM (${windowedLedger(`${scopesJoin(scopes)} AS sk, model, operation, priced, cost_usd, revenue_usd, input_tokens, output_tokens, kind`)})
GROUP BY start_ms, sk, model, operation
-- ORDER BY: oldest window first, the order the engine learns in.
ORDER BY start_ms`;
}

function contributorsSql(scopes: readonly ReplayScope[]): string {
  const postScope = scopes.indexOf("post");
  return `SELECT start_ms, sk.1 AS scope_index, sk.2 AS key1, sk.3 AS key2, who.1 AS part, who.2 AS contributor,
       toString(sum(cost)) AS cost_text
FROM (${windowedLedger(
    `${scopesJoin(scopes)} AS sk, arrayJoin(arrayFilter(w -> w.2 != '', [('p', post_id), ('u', user_id)])) AS who, assumeNotNull(cost_usd) AS cost`,
    " AND cost_usd IS NOT NULL",
  )})
${postScope >= 0 ? `-- A post window has no top posts.\nWHERE NOT (who.1 = 'p' AND sk.1 = ${postScope})\n` : ""}GROUP BY start_ms, sk, who
-- ORDER BY: per window and key, the dearest contributors first (the windower keeps the top 5); names break ties.
ORDER BY start_ms, sk, who.1, sum(cost) DESC, who.2
LIMIT 5 BY start_ms, sk, who.1`;
}

type Row = Record<string, string | number>;

export async function ledgerWindows(client: ClickHouseClient, q: LedgerWindowsQuery): Promise<WindowAggregate[]> {
  const windowMs = q.window_s * 1000;
  const params = { tenant: q.tenant, from: chTime(q.from), to: chTime(q.to), window_ms: windowMs };
  const [allRows, contributors] = await Promise.all([
    queryRows<Row>(client, breakdownSql(q.scopes), params),
    queryRows<Row>(client, contributorsSql(q.scopes), params),
  ]);
  // Each scope's rows, in the order the queries returned them, sorted out in one pass.
  const breakdowns = groupBy(allRows, (r) => String(r.scope_index));
  const tops = groupBy(contributors, (r) => `${r.scope_index}|${r.part}`);
  const out: WindowAggregate[] = [];
  for (const [index, scope] of q.scopes.entries()) {
    const keys = replayScopes[scope] as readonly string[];
    const rows = breakdowns.get(String(index)) ?? [];
    const posts = tops.get(`${index}|p`) ?? [];
    const users = tops.get(`${index}|u`) ?? [];
    const keyOf = (r: Row): Record<string, string> => Object.fromEntries(keys.map((k, i) => [k, String(i === 0 ? r.key1 : r.key2)]));
    const windows = new Map<string, Acc>();
    const idOf = (r: Row) => `${r.start_ms}|${r.key1}\u0000${r.key2}`;
    for (const r of rows) {
      const id = idOf(r);
      let w = windows.get(id);
      if (!w) windows.set(id, (w = newAcc(scope, q.tenant, Number(r.start_ms), keyOf(r))));
      const cost = toPico(String(r.cost_text));
      w.events += Number(r.events);
      w.unpriced += Number(r.unpriced_events);
      w.cost += cost;
      w.revenue += toPico(String(r.revenue_text));
      w.input += Number(r.in_tokens);
      w.output += Number(r.out_tokens);
      w.requests += Number(r.requests);
      if (Number(r.costed) > 0) {
        if (r.model) w.byModel.set(String(r.model), (w.byModel.get(String(r.model)) ?? 0n) + cost);
        if (r.operation) w.byOperation.set(String(r.operation), (w.byOperation.get(String(r.operation)) ?? 0n) + cost);
      }
    }
    for (const [list, field] of [
      [posts, "posts"],
      [users, "users"],
    ] as const)
      for (const r of list) windows.get(idOf(r))?.[field].push([String(r.contributor), String(r.cost_text)]);
    for (const w of windows.values()) out.push(toAggregate(w, windowMs));
    if (out.length > MAX_REPLAY_WINDOWS) break;
  }
  return out.sort((a, b) => (a.window_start < b.window_start ? -1 : a.window_start > b.window_start ? 1 : 0));
}

interface Acc {
  scope: ReplayScope;
  tenant: string;
  start: number;
  key: Record<string, string>;
  events: number;
  unpriced: number;
  cost: bigint;
  revenue: bigint;
  input: number;
  output: number;
  requests: number;
  byModel: Map<string, bigint>;
  byOperation: Map<string, bigint>;
  posts: [string, string][];
  users: [string, string][];
}

function newAcc(scope: ReplayScope, tenant: string, start: number, keyCols: Record<string, string>): Acc {
  return {
    scope,
    tenant,
    start,
    key: { tenant, ...keyCols },
    events: 0,
    unpriced: 0,
    cost: 0n,
    revenue: 0n,
    input: 0,
    output: 0,
    requests: 0,
    byModel: new Map(),
    byOperation: new Map(),
    posts: [],
    users: [],
  };
}

function toAggregate(w: Acc, windowMs: number): WindowAggregate {
  const money = (m: Map<string, bigint>) => Object.fromEntries([...m].map(([k, v]) => [k, fromPico(v)]));
  const end = new Date(w.start + windowMs).toISOString();
  return {
    scope: w.scope,
    key: w.key,
    tenant: w.tenant,
    window_start: new Date(w.start).toISOString(),
    window_end: end,
    events: w.events,
    unpriced_events: w.unpriced,
    cost_usd: fromPico(w.cost),
    revenue_usd: fromPico(w.revenue),
    input_tokens: w.input,
    output_tokens: w.output,
    requests: w.requests,
    by_model: money(w.byModel),
    by_operation: money(w.byOperation),
    top_posts: Object.fromEntries(w.posts.map(([k, v]) => [k, fromPico(toPico(v))])),
    top_users: Object.fromEntries(w.users.map(([k, v]) => [k, fromPico(toPico(v))])),
    final: true,
    emitted_at: end,
  };
}
