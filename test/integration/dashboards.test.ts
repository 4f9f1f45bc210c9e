// The Grafana dashboards in deploy/grafana/dashboards against the real schema:
// every ClickHouse panel's SQL (and every variable query) is expanded the way
// the ClickHouse datasource plugin does it — $__conditionalAll, template
// variables with their format, then $__timeFilter, $__timeInterval, … — and run
// on a freshly migrated embedded ClickHouse holding a few ledger, allocation,
// alert, control and delivery rows; money columns must stay Decimal and the
// headline figures must equal the seeded rows' exact totals. Every Prometheus
// panel must name only metrics the services export.
import { guardSelect } from "../../pipeline/queries/read-only-sql.ts";
import { mkdtempSync, readFileSync, readdirSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { Decimal } from "decimal.js";
import { parse as parseYaml } from "yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openClickHouse, type Ledgerbase } from "../../pipeline/clickhouse/client.ts";
import { migrate } from "../../pipeline/clickhouse/migrate.ts";
import { chTime } from "../../pipeline/ledger/ledger-row.ts";
import { agreedMetrics, metricNames } from "../helpers/agreed-metrics.ts";
import { createClient } from "@clickhouse/client";
import { createKeyStore } from "../../pipeline/api/api-keys.ts";
import { startClickHouseHttp } from "../../pipeline/clickhouse/http-endpoint.ts";

const repoRoot = path.resolve(import.meta.dirname, "../..");
const dashboardsDir = path.join(repoRoot, "deploy/grafana/dashboards");
const CLICKHOUSE = "grafana-clickhouse-datasource";

// ---------------------------------------------------------------- dashboards

interface Target {
  refId: string;
  datasource?: { type: string; uid: string };
  rawSql?: string;
  queryType?: string;
  format?: number;
  expr?: string;
}
interface Panel {
  id: number;
  type: string;
  title: string;
  datasource?: { type: string; uid: string };
  targets?: Target[];
  panels?: Panel[];
}
interface Variable {
  name: string;
  type: string;
  query: string;
  datasource?: { type: string; uid: string };
  includeAll?: boolean;
  multi?: boolean;
}
interface Dashboard {
  uid: string;
  title: string;
  time: { from: string; to: string };
  templating: { list: Variable[] };
  panels: Panel[];
}

const dashboards: Dashboard[] = readdirSync(dashboardsDir)
  .filter((f) => f.endsWith(".json"))
  .sort()
  .map((f) => JSON.parse(readFileSync(path.join(dashboardsDir, f), "utf8")) as Dashboard);

function panelsOf(d: Dashboard): Panel[] {
  return d.panels.flatMap((p) => (p.type === "row" ? (p.panels ?? []) : [p]));
}

const chPanels = dashboards.flatMap((d) =>
  panelsOf(d).flatMap((p) => (p.targets ?? []).filter((t) => t.datasource?.type === CLICKHOUSE).map((t) => ({ d, p, t }))),
);
const promPanels = dashboards.flatMap((d) =>
  panelsOf(d).flatMap((p) => (p.targets ?? []).filter((t) => t.datasource?.type === "prometheus").map((t) => ({ d, p, t }))),
);

// ---------------------------------------------------------------- macro expansion (as the plugin does it)

/** Arguments of the macro call whose "(" is at `open`, split on top-level commas; and the index after ")". */
function macroArgs(sql: string, open: number): { args: string[]; end: number } {
  let depth = 0;
  let current = "";
  const args: string[] = [];
  for (let i = open; i < sql.length; i++) {
    const c = sql[i]!;
    if (c === "(") {
      if (depth++ > 0) current += c;
    } else if (c === ")") {
      if (--depth === 0) {
        args.push(current.trim());
        return { args, end: i + 1 };
      }
      current += c;
    } else if (c === "," && depth === 1) {
      args.push(current.trim());
      current = "";
    } else current += c;
  }
  throw new Error(`unbalanced macro call at ${open}: ${sql.slice(open, open + 60)}`);
}

/** A selection: "all", or chosen values. */
type Selection = "all" | string[];

interface Scenario {
  from: Date;
  to: Date;
  intervalS: number;
  vars: Record<string, Selection>;
}

/** Frontend step 1: $__conditionalAll(cond, $var) becomes 1=1 when the variable selects All. */
function applyConditionalAll(sql: string, vars: Record<string, Selection>): string {
  const macro = "$__conditionalAll(";
  for (let at = sql.lastIndexOf(macro); at !== -1; at = sql.lastIndexOf(macro)) {
    const { args, end } = macroArgs(sql, at + macro.length - 1);
    if (args.length !== 2) throw new Error(`$__conditionalAll needs 2 arguments: ${sql.slice(at, end)}`);
    const name = args[1]!.replace(/^\$\{?|\}$/g, "");
    if (!(name in vars)) throw new Error(`$__conditionalAll names an unknown variable ${args[1]}`);
    sql = sql.slice(0, at) + (vars[name] === "all" ? "1=1" : args[0]!) + sql.slice(end);
  }
  return sql;
}

/** Grafana's variable formats used by the dashboards; values of All are the variable's every option. */
function formatValues(values: string[], format: string | undefined, name: string): string {
  switch (format) {
    case "singlequote":
      return values.map((v) => `'${v.replace(/'/g, "\\'")}'`).join(",");
    case "sqlstring":
      return values.map((v) => `'${v.replace(/'/g, "''")}'`).join(",");
    case "csv":
    case "raw":
      return values.join(",");
    case undefined:
      if (values.length !== 1) throw new Error(`$${name} with several values needs an explicit format (e.g. \${${name}:singlequote})`);
      return values[0]!;
    default:
      throw new Error(`unsupported variable format ${format} on ${name}`);
  }
}

/** Frontend step 2: template variables. Backend macros ($__…) are left for step 3. */
function applyVariables(sql: string, vars: Record<string, Selection>, allValues: Record<string, string[]>): string {
  return sql.replace(
    /\$\{(\w+)(?::(\w+))?\}|\$(\w+)/g,
    (whole, braced: string | undefined, format: string | undefined, bare: string | undefined) => {
      const name = (braced ?? bare)!;
      if (name.startsWith("__")) return whole;
      const sel = vars[name];
      if (sel === undefined) throw new Error(`unknown template variable $${name}`);
      return formatValues(sel === "all" ? (allValues[name] ?? []) : sel, format, name);
    },
  );
}

const secs = (d: Date) => Math.floor(d.getTime() / 1000);

/** Backend step 3: the plugin's macros (pkg/macros of grafana-clickhouse-datasource v4). */
function applyMacros(sql: string, s: Scenario): string {
  const dt = (d: Date) => `toDateTime(${secs(d)})`;
  const dt64 = (d: Date) => `fromUnixTimestamp64Milli(${d.getTime()})`;
  const date = (d: Date) => `toDate('${d.toISOString().slice(0, 10)}')`;
  const withArgs: Record<string, (a: string[]) => string> = {
    timeFilter: ([c]) => `${c} >= ${dt(s.from)} AND ${c} <= ${dt(s.to)}`,
    timeFilter_ms: ([c]) => `${c} >= ${dt64(s.from)} AND ${c} <= ${dt64(s.to)}`,
    dateFilter: ([c]) => `${c} >= ${date(s.from)} AND ${c} <= ${date(s.to)}`,
    dateTimeFilter: ([d, t]) => `(${d} >= ${date(s.from)} AND ${d} <= ${date(s.to)}) AND (${t} >= ${dt(s.from)} AND ${t} <= ${dt(s.to)})`,
    timeInterval: ([c]) => `toStartOfInterval(toDateTime(${c}), INTERVAL ${Math.max(1, s.intervalS)} second)`,
    timeInterval_ms: ([c]) => `toStartOfInterval(toDateTime64(${c}, 3), INTERVAL ${Math.max(1, s.intervalS) * 1000} millisecond)`,
  };
  const plain: Record<string, string> = {
    fromTime: dt(s.from),
    toTime: dt(s.to),
    fromTime_ms: dt64(s.from),
    toTime_ms: dt64(s.to),
    interval_s: String(Math.max(1, s.intervalS)),
  };
  let out = "";
  let i = 0;
  for (const m of sql.matchAll(/\$__(\w+)/g)) {
    if (m.index! < i) continue;
    const name = m[1]!;
    out += sql.slice(i, m.index);
    const after = m.index! + m[0].length;
    if (name in withArgs) {
      if (sql[after] !== "(") throw new Error(`$__${name} needs arguments`);
      const { args, end } = macroArgs(sql, after);
      out += withArgs[name]!(args);
      i = end;
    } else if (name in plain) {
      out += plain[name];
      i = after;
    } else throw new Error(`unknown macro $__${name}`);
  }
  return out + sql.slice(i);
}

function expand(sql: string, s: Scenario, allValues: Record<string, string[]>): string {
  const out = applyMacros(applyVariables(applyConditionalAll(sql, s.vars), s.vars, allValues), s);
  expect(out, "every macro and variable is expanded").not.toMatch(/\$/);
  return out;
}

/** Grafana's relative "now-30d" / "now-3h" / "now". */
function relative(expr: string, now: Date): Date {
  if (expr === "now") return now;
  const m = /^now-(\d+)([mhdw])$/.exec(expr);
  if (!m) throw new Error(`unsupported time ${expr}`);
  const unit = { m: 60, h: 3600, d: 86_400, w: 604_800 }[m[2] as "m" | "h" | "d" | "w"];
  return new Date(now.getTime() - Number(m[1]) * unit * 1000);
}

// ---------------------------------------------------------------- seeded data

const now = new Date(Math.floor(Date.now() / 1000) * 1000);
const ago = (hours: number) => new Date(now.getTime() - hours * 3_600_000);
const tenants = ["acme", "globex", "o'hara"];

interface LedgerSeed {
  id: string;
  tenant: string;
  time: Date;
  kind: "llm" | "infra" | "revenue";
  provider: string;
  model: string;
  post: string;
  persona: string;
  feature: string;
  cost: string | null;
  revenue: string;
  inTok: number;
  outTok: number;
}

function seedLedger(): LedgerSeed[] {
  const rows: LedgerSeed[] = [];
  const models = [
    ["openai", "gpt-4o-2024-08-06"],
    ["anthropic", "claude-sonnet-4-0"],
    ["openai", "gpt-4o-mini"],
  ] as const;
  const hoursAgo = [0, 5, 26, 75, 150, 290, 600, 1080]; // 1080 h = 45 days: outside the 30-day range
  let n = 0;
  for (const [ti, tenant] of tenants.entries())
    for (const [hi, h] of hoursAgo.entries())
      for (let k = 0; k < 3; k++) {
        const [provider, model] = models[(ti + hi + k) % 3]!;
        const cents = 1 + ((ti * 7 + hi * 3 + k * 5) % 17);
        rows.push({
          id: `ev-${n++}`,
          tenant,
          time: ago(h + k * 0.05),
          kind: "llm",
          provider,
          model,
          post: k === 2 ? "" : `post-${ti}-${hi % 3}-${k}`,
          persona: k === 0 ? "" : ["ai_jesus", "chef_mario"][k - 1]!,
          feature: ["hooks", "replies", ""][k]!,
          cost: `0.${String(cents).padStart(2, "0")}3456789012`,
          revenue: "0",
          inTok: 1000 * (k + 1),
          outTok: 250 * (k + 1),
        });
      }
  // An unpriced event, a shared infra cost (split below) and revenue.
  rows.push({
    id: "ev-unpriced",
    tenant: "acme",
    time: ago(3),
    kind: "llm",
    provider: "acme-ai",
    model: "house-model-9",
    post: "post-0-0-0",
    persona: "ai_jesus",
    feature: "hooks",
    cost: null,
    revenue: "0",
    inTok: 10,
    outTok: 10,
  });
  rows.push({
    id: "ev-infra",
    tenant: "acme",
    time: ago(4),
    kind: "infra",
    provider: "",
    model: "",
    post: "",
    persona: "",
    feature: "",
    cost: "1.000000000001",
    revenue: "0",
    inTok: 0,
    outTok: 0,
  });
  rows.push({
    id: "ev-revenue",
    tenant: "globex",
    time: ago(6),
    kind: "revenue",
    provider: "",
    model: "",
    post: "post-1-0-0",
    persona: "",
    feature: "",
    cost: "0",
    revenue: "12.5",
    inTok: 0,
    outTok: 0,
  });
  return rows;
}

const ledgerSeed = seedLedger();
const allocationSeed = [
  { tenant: "acme", post_id: "post-0-0-0", share: 0.6, amount_usd: "0.600000000001", window_start: ago(5) },
  { tenant: "acme", post_id: "post-0-0-1", share: 0.4, amount_usd: "0.4", window_start: ago(5) },
  { tenant: "acme", post_id: "", share: 0, amount_usd: "0", window_start: ago(5) },
];

function alertRow(id: string, fingerprint: string, tenant: string, type: string, severity: string, status: string, hoursAgo: number) {
  const t = chTime(ago(hoursAgo).toISOString());
  return {
    id,
    fingerprint,
    type,
    severity,
    status,
    tenant,
    scope: "tenant",
    scope_key: { tenant },
    observed: "12.5",
    expected: "2.1",
    multiplier: 5.9,
    score: 8.2,
    window_start: t,
    window_end: t,
    first_seen: t,
    detected_at: t,
    message: `${type} on ${tenant}`,
    evidence: "{}",
  };
}
const alertSeed = [
  alertRow("a1", "fp-spike-acme", "acme", "spike", "high", "firing", 30),
  alertRow("a2", "fp-spike-acme", "acme", "spike", "high", "resolved", 29),
  alertRow("a3", "fp-budget-acme", "acme", "budget", "medium", "firing", 2),
  alertRow("a4", "fp-cpp-ohara", "o'hara", "cost_per_post", "critical", "firing", 1),
  alertRow("a5", "fp-roi-globex", "globex", "roi", "info", "firing", 400), // outside the 7-day range
];

// ---------------------------------------------------------------- expected figures (decimal.js, from the seed)

const D = (v: string | null) => new Decimal(v ?? 0);
const hourOf = (t: Date) => new Date(Math.floor(t.getTime() / 3_600_000) * 3_600_000);
const startOfDay = (t: Date) => new Date(Date.UTC(t.getUTCFullYear(), t.getUTCMonth(), t.getUTCDate()));
const startOfMonth = (t: Date) => new Date(Date.UTC(t.getUTCFullYear(), t.getUTCMonth(), 1));
const sumCost = (rows: LedgerSeed[]) => rows.reduce((a, r) => a.plus(D(r.cost)), new Decimal(0));
const inRangeHour = (r: LedgerSeed, from: Date, to: Date) => hourOf(r.time) >= from && hourOf(r.time) <= to;
const inRange = (t: Date, from: Date, to: Date) => t >= from && t <= to;

/** Decimal as ClickHouse prints a Decimal(38, 12) with quoted decimals: trailing zeros dropped. */
const chDecimal = (d: Decimal) => d.toDecimalPlaces(12, Decimal.ROUND_DOWN).toFixed();

// ---------------------------------------------------------------- running

let db: Ledgerbase;
const home = mkdtempSync(path.join(os.tmpdir(), "costline-dashboards-"));

interface Result {
  meta: { name: string; type: string }[];
  data: Record<string, unknown>[];
}

async function run(sql: string): Promise<Result> {
  // Every dashboard query passes the same allowlist as /v1/sql and `costline sql`.
  await guardSelect(db.client, sql);
  // Decimals as strings, so exact figures compare exactly (SETTINGS in the SQL, never client settings).
  const rs = await db.client.query({
    query: `${sql}\nSETTINGS output_format_json_quote_decimals = 1, output_format_json_quote_64bit_integers = 1`,
    format: "JSON",
  });
  return (await rs.json()) as unknown as Result;
}

const variableValues: Record<string, string[]> = {};

function scenario(d: Dashboard, vars: Record<string, Selection> = {}): Scenario {
  const from = relative(d.time.from, now);
  const to = relative(d.time.to, now);
  const all = Object.fromEntries(d.templating.list.map((v) => [v.name, "all" as Selection]));
  return { from, to, intervalS: Math.max(1, Math.round((to.getTime() - from.getTime()) / 1000 / 300)), vars: { ...all, ...vars } };
}

async function runPanel(title: string, vars: Record<string, Selection> = {}): Promise<Result> {
  const found = chPanels.filter((c) => c.p.title === title);
  expect(found, `one ClickHouse panel titled "${title}"`).toHaveLength(1);
  const { d, t } = found[0]!;
  return run(expand(t.rawSql!, scenario(d, vars), variableValues));
}

beforeAll(async () => {
  db = await openClickHouse({ dataDir: path.join(home, "clickhouse") } as Parameters<typeof openClickHouse>[0]);
  await migrate(db.client);
  await db.client.insert({
    table: "costline.ledger",
    format: "JSONEachRow",
    values: ledgerSeed.map((r) => ({
      event_id: r.id,
      source: "test/dashboards",
      type: `costline.${r.kind}`,
      kind: r.kind,
      time: chTime(r.time.toISOString()),
      tenant: r.tenant,
      provider: r.provider,
      model: r.model,
      post_id: r.post,
      persona_id: r.persona,
      feature: r.feature,
      cost_usd: r.cost,
      revenue_usd: r.revenue,
      priced: r.cost !== null,
      input_tokens: r.inTok,
      output_tokens: r.outTok,
      attribution_method: r.post ? "direct" : "unattributed",
    })),
  });
  await db.client.insert({
    table: "costline.cost_allocations",
    format: "JSONEachRow",
    values: allocationSeed.map((a) => ({
      ...a,
      persona_id: "",
      source: "test/dashboards",
      source_event_id: "ev-infra",
      kind: "infra",
      driver: "llm_tokens",
      window_start: chTime(hourOf(a.window_start).toISOString()),
    })),
  });
  await db.client.insert({ table: "costline.alerts", format: "JSONEachRow", values: alertSeed });
  await db.client.insert({
    table: "costline.control_changes",
    format: "JSONEachRow",
    values: [
      {
        changed_at: chTime(ago(1).toISOString()),
        tenant: "o'hara",
        scope_key: "tenant=o'hara",
        action: "set",
        state: "throttled",
        reason: "cost_per_post critical",
        changed_by: "escalation",
        control: "{}",
      },
    ],
  });
  const delivery = (alert_id: string, tenant: string, channel: string, result: string, attempt: number, latency: number | null) => ({
    attempted_at: chTime(ago(1).toISOString()),
    notification_id: `n-${alert_id}`,
    alert_id,
    fingerprint: `fp-${alert_id}`,
    tenant,
    type: "cost_per_post",
    severity: "critical",
    status: "firing",
    channel,
    channel_type: channel,
    attempt,
    result,
    reason: "",
    http_status: result === "delivered" ? 200 : 503,
    latency_ms: latency,
  });
  await db.client.insert({
    table: "costline.notification_log",
    format: "JSONEachRow",
    values: [
      delivery("a4", "o'hara", "slack", "delivered", 1, 420),
      delivery("a4", "o'hara", "pagerduty", "retried", 1, null),
      delivery("a4", "o'hara", "pagerduty", "failed", 2, null),
    ],
  });
  // Variable options, as Grafana loads them before the panels.
  for (const d of dashboards)
    for (const v of d.templating.list) {
      if (v.type === "custom") variableValues[v.name] = v.query.split(",").map((s) => s.trim());
      else if (v.type === "query" && v.datasource?.type === CLICKHOUSE) {
        const r = await run(expand(v.query, scenario(d), {}));
        variableValues[v.name] = [...new Set([...(variableValues[v.name] ?? []), ...r.data.map((row) => String(Object.values(row)[0]))])];
      }
    }
});
afterAll(async () => db?.close());

describe("dashboards", () => {
  it("are the executive, pipeline and alerts boards, on the provisioned datasources", () => {
    expect(dashboards.map((d) => d.uid).sort()).toEqual(["costline-alerts", "costline-executive", "costline-pipeline"]);
    const provisioned = parseYaml(readFileSync(path.join(repoRoot, "deploy/grafana/provisioning/datasources/datasources.yml"), "utf8")) as {
      datasources: { uid: string; type: string }[];
    };
    const known = new Map(provisioned.datasources.map((ds) => [ds.uid, ds.type]));
    for (const d of dashboards)
      for (const p of panelsOf(d)) {
        expect(p.targets?.length, `${d.uid} / ${p.title} has a query`).toBeGreaterThan(0);
        for (const t of p.targets!) {
          expect(known.get(t.datasource!.uid), `${d.uid} / ${p.title}: datasource ${t.datasource!.uid}`).toBe(t.datasource!.type);
          if (t.datasource!.type === CLICKHOUSE) expect(t.rawSql, `${p.title} has SQL`).toBeTruthy();
          else expect(t.expr, `${p.title} has PromQL`).toBeTruthy();
        }
      }
    // The ClickHouse boards are the executive and alerts boards; the pipeline board is Prometheus alone.
    expect(new Set(chPanels.map((c) => c.d.uid))).toEqual(new Set(["costline-executive", "costline-alerts"]));
    expect(new Set(promPanels.map((c) => c.d.uid))).toEqual(new Set(["costline-pipeline"]));
  });

  it("variable queries list the seeded tenants and alert types", () => {
    expect(variableValues.tenant?.sort()).toEqual([...tenants].sort());
    expect(variableValues.type?.sort()).toEqual(["budget", "cost_per_post", "roi", "spike"]);
    expect(variableValues.severity).toEqual(["critical", "high", "medium", "info"]);
  });
});

describe("every ClickHouse panel on the migrated schema", () => {
  it.each(chPanels.map((c) => [`${c.d.uid} / ${c.p.title} (${c.t.refId})`, c] as const))("%s", async (_name, { d, t }) => {
    const selections: Record<string, Selection>[] = [
      {},
      { tenant: ["o'hara"] },
      { tenant: ["acme", "globex"], severity: ["high", "medium"] },
    ];
    const all = await run(expand(t.rawSql!, scenario(d), variableValues));
    expect(all.data.length, "rows for the seeded data").toBeGreaterThan(0);
    for (const col of all.meta) if (/_usd$/.test(col.name)) expect(col.type, `${col.name} stays decimal`).toMatch(/^(Nullable\()?Decimal/);
    if (t.queryType === "timeSeries") {
      expect(t.format).toBe(0);
      expect(all.meta[0]!.type, "a time series starts with its time column").toMatch(/^(Date|DateTime)/);
      const times = all.data.map((r) => String(Object.values(r)[0]));
      expect(times, "in ascending time").toEqual([...times].sort());
    } else expect(t.format).toBe(1);
    for (const vars of selections.slice(1)) {
      const filtered = await run(expand(t.rawSql!, scenario(d, vars), variableValues));
      expect(filtered.meta).toEqual(all.meta);
      if ("tenant" in all.data[0]!) for (const r of filtered.data) expect(vars.tenant).toContain(r.tenant);
    }
  });
});

describe("executive figures equal the ledger's exact totals", () => {
  const exec = () => dashboards.find((d) => d.uid === "costline-executive")!;
  const range = () => scenario(exec());
  const priced = (tenant?: string) => ledgerSeed.filter((r) => !tenant || r.tenant === tenant);
  const one = (r: Result, col: string) => String(r.data[0]![col]);

  it("spend today and month to date", async () => {
    for (const tenant of [undefined, "o'hara"]) {
      const vars: Record<string, Selection> = tenant ? { tenant: [tenant] } : {};
      const today = sumCost(priced(tenant).filter((r) => hourOf(r.time) >= startOfDay(now)));
      const mtd = sumCost(priced(tenant).filter((r) => hourOf(r.time) >= startOfMonth(now)));
      expect(today.gt(0)).toBe(true);
      expect(one(await runPanel("Spend today (UTC)", vars), "spend_today_usd")).toBe(chDecimal(today));
      expect(one(await runPanel("Month to date (UTC)", vars), "month_to_date_usd")).toBe(chDecimal(mtd));
    }
  });

  it("projected month: month to date plus the 7-day run rate over the rest of the month", async () => {
    const before = Date.now();
    const r = await runPanel("Projected month (UTC)");
    const after = Date.now();
    const mtd = sumCost(ledgerSeed.filter((x) => hourOf(x.time) >= startOfMonth(now)));
    const week = sumCost(ledgerSeed.filter((x) => hourOf(x.time).getTime() > now.getTime() - 7 * 86_400_000));
    expect(one(r, "month_to_date_usd")).toBe(chDecimal(mtd));
    expect(one(r, "last_7_days_usd")).toBe(chDecimal(week));
    const monthEnd = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1));
    // now() is read when the query runs: somewhere between `before` and `after`.
    const projected = (at: number) => mtd.plus(week.times(monthEnd.getTime() / 1000 - Math.floor(at / 1000)).div(7 * 86_400));
    const got = new Decimal(one(r, "projected_month_usd"));
    expect(
      got.gte(projected(after + 1000).minus(1e-9)) && got.lte(projected(before - 1000).plus(1e-9)),
      `${got} within the run-rate bounds`,
    ).toBe(true);
  });

  it("cost per post counts direct and allocated cost over the posts in range", async () => {
    const { from, to } = range();
    const direct = ledgerSeed.filter((r) => r.post && inRange(r.time, from, to));
    const alloc = allocationSeed.filter((a) => a.post_id && inRange(hourOf(a.window_start), from, to));
    const posts = new Set([...direct.map((r) => `${r.tenant}|${r.post}`), ...alloc.map((a) => `${a.tenant}|${a.post_id}`)]);
    const total = sumCost(direct).plus(alloc.reduce((a, x) => a.plus(x.amount_usd), new Decimal(0)));
    const r = await runPanel("Cost per post");
    expect(Number(one(r, "posts"))).toBe(posts.size);
    expect(one(r, "cost_per_post_usd")).toBe(chDecimal(total.div(posts.size)));
  });

  it("spend by tenant, daily spend, models, personas and features add up to the range's total", async () => {
    const { from, to } = range();
    const inRangeRows = ledgerSeed.filter((r) => inRangeHour(r, from, to));
    const total = sumCost(inRangeRows);
    const sumOf = (r: Result, col: string) => r.data.reduce((a, row) => a.plus(String(row[col])), new Decimal(0));
    const byTenant = await runPanel("Spend by tenant");
    for (const t of tenants) {
      const row = byTenant.data.find((x) => x.tenant === t)!;
      expect(String(row.spend_usd), t).toBe(chDecimal(sumCost(inRangeRows.filter((r) => r.tenant === t))));
    }
    expect(String(byTenant.data.find((x) => x.tenant === "globex")!.revenue_usd)).toBe("12.5");
    expect(sumOf(await runPanel("Daily spend"), "spend_usd").toFixed()).toBe(total.toFixed());
    expect(sumOf(await runPanel("Personas"), "spend_usd").toFixed()).toBe(total.toFixed());
    expect(sumOf(await runPanel("Features"), "spend_usd").toFixed()).toBe(total.toFixed());
    const models = await runPanel("Top models");
    expect(sumOf(models, "spend_usd").toFixed()).toBe(sumCost(inRangeRows.filter((r) => r.kind === "llm")).toFixed());
    expect(models.data.map((m) => m.model)).toContain("house-model-9");
    expect(String((await runPanel("Unpriced events")).data[0]!.unpriced_events)).toBe("1");
  });
});

describe("alerts board", () => {
  it("counts what fires now, what was raised, and failed deliveries", async () => {
    // In the 7-day range: spike (fired, then resolved), budget and cost_per_post firing; roi is older.
    expect(String((await runPanel("Firing now")).data[0]!.firing)).toBe("2");
    expect(String((await runPanel("Raised in range")).data[0]!.raised)).toBe("3");
    expect(String((await runPanel("Critical raised")).data[0]!.critical)).toBe("1");
    expect(String((await runPanel("Failed deliveries")).data[0]!.failed_deliveries)).toBe("1");
    const open = await runPanel("Open alerts");
    expect(open.data.map((r) => r.alert_type).sort()).toEqual(["budget", "cost_per_post"]);
    const ohara = await runPanel("Open alerts", { tenant: ["o'hara"] });
    expect(ohara.data.map((r) => [r.tenant, r.alert_severity])).toEqual([["o'hara", "critical"]]);
    const recent = await runPanel("Recent alerts", { severity: ["high"] });
    expect(recent.data.map((r) => r.alert_status).sort()).toEqual(["firing", "resolved"]);
  });
});

// ---------------------------------------------------------------- over the embedded engine's HTTP endpoint

// What a local Grafana reads with its ClickHouse datasource on protocol "http"
// pointed at `npm start` (COSTLINE_CLICKHOUSE_HTTP_PORT): a real HTTP
// ClickHouse client, an admin API key as the password, the same answers.
describe("every ClickHouse panel over the embedded engine's HTTP interface", () => {
  let endpoint: { url: string; close(): Promise<void> };
  let adminKey: string;
  let tenantKey: string;
  const http = (password: string) => createClient({ url: endpoint.url, username: "grafana", password, request_timeout: 60_000 });

  beforeAll(async () => {
    const keys = createKeyStore(db.client);
    adminKey = (await keys.create({ role: "admin" }, "grafana")).key;
    tenantKey = (await keys.create({ role: "tenant", tenant: "acme" }, "tenant")).key;
    endpoint = await startClickHouseHttp({ client: db.client, keys, host: "127.0.0.1", port: 0 });
  });
  afterAll(async () => endpoint?.close());

  it("answers /ping, and refuses a wrong key, a tenant key and any write", async () => {
    expect(await (await fetch(`${endpoint.url}/ping`)).text()).toBe("Ok.\n");
    for (const password of ["", "not-a-key", tenantKey]) {
      const client = http(password);
      await expect(client.query({ query: "SELECT 1", format: "JSONEachRow" })).rejects.toThrow(/Authentication failed/);
      await client.close();
    }
    const client = http(adminKey);
    for (const query of [
      "INSERT INTO costline.ledger (event_id) VALUES ('x')",
      "DROP TABLE costline.ledger",
      "SELECT * FROM file('/etc/passwd')",
      "SELECT 1 SETTINGS readonly = 0",
    ])
      await expect(client.query({ query, format: "JSONEachRow" }), query).rejects.toThrow(/read-only/);
    const count = async (rs: { json<T>(): Promise<T[]> }) => (await rs.json<{ n: string | number }>()).map((r) => Number(r.n));
    expect(await count(await client.query({ query: "SELECT count() AS n FROM costline.ledger", format: "JSONEachRow" }))).toEqual([
      ledgerSeed.length,
    ]);
    // Bound parameters travel as param_<name>, as ClickHouse's HTTP interface takes them.
    const bound = await client.query({
      query: "SELECT count() AS n FROM costline.ledger WHERE tenant = {t:String}",
      query_params: { t: "o'hara" },
      format: "JSONEachRow",
    });
    expect(await count(bound)).toEqual([ledgerSeed.filter((r) => r.tenant === "o'hara").length]);
    await client.close();
  });

  it.each(chPanels.map((c) => [`${c.d.uid} / ${c.p.title} (${c.t.refId})`, c] as const))(
    "%s gives the same rows as the engine itself",
    async (_name, { d, t }) => {
      const sql = expand(t.rawSql!, scenario(d), variableValues);
      const client = http(adminKey);
      try {
        // Text formats print Decimals exactly; the direct query is the reference.
        // A panel that reads now() (a projection) moves with the clock, so the
        // two answers are compared from queries made within the same second.
        let direct = "";
        let overHttp = "";
        for (let attempt = 0; attempt < 5; attempt++) {
          const second = Math.floor(Date.now() / 1000);
          direct = await (await db.client.query({ query: sql, format: "TabSeparatedWithNamesAndTypes" })).text();
          overHttp = await (await client.query({ query: sql, format: "TabSeparatedWithNamesAndTypes" })).text();
          if (overHttp === direct || Math.floor(Date.now() / 1000) === second) break;
        }
        expect(overHttp).toBe(direct);
        expect(overHttp.split("\n").filter(Boolean).length, "rows besides the header").toBeGreaterThan(2);
      } finally {
        await client.close();
      }
    },
  );
});

// ---------------------------------------------------------------- Prometheus panels

describe("every Prometheus panel", () => {
  it("the parser finds metric names and only them", () => {
    expect(
      metricNames(
        'sum by (stage, le) (rate(costline_stage_flush_seconds_bucket{stage=~"a|b"}[$__rate_interval])) / on (stage) group_left up',
      ),
    ).toEqual(["costline_stage_flush_seconds_bucket", "up"]);
    expect(metricNames("time() - max by (stage) (costlin_stage_last_flush)")).toEqual(["costlin_stage_last_flush"]);
  });

  it.each(promPanels.map((c) => [`${c.p.title} (${c.t.refId})`, c.t.expr!] as const))("%s names agreed metrics", (_name, expr) => {
    const names = metricNames(expr);
    expect(names.length, `a metric in ${expr}`).toBeGreaterThan(0);
    for (const n of names) expect(agreedMetrics.has(n), `${n} in ${expr} is an agreed metric name`).toBe(true);
  });
});
