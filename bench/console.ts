// The console on a large ledger:
//   npm run bench:console -- [--rows 10000000] [--requests 300] [--data-dir DIR] [--out FILE]
// Fills an embedded ClickHouse with the synthetic ledger of bench:api (three
// months ending now, so today and this month hold data; with --data-dir a
// ledger filled by an earlier run is used again, and migrations added since
// fill their rollups from it), starts the real API with its console on
// analytics lanes configured as `costline up` configures them (the default
// COSTLINE_QUERY_* bounds: one thread per query, two lanes), signs in with a
// tenant key, then measures
//   - the overview in Chromium (when one is found): first contentful paint
//     of a fresh load of /, and when its last lazy panel has loaded;
//     and the server's answer time for the page;
//   - explorer pages: GET /explorer for every group-by over the last 30 days
//     by day and the last 24 hours by hour, p50/p95/p99 per group-by.
// Targets: first paint ≤ 1 s, explorer p99 ≤ 300 ms.
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { openClickHouse, queryRows } from "../pipeline/clickhouse/client.ts";
import { migrate } from "../pipeline/clickhouse/migrate.ts";
import { createKeyStore } from "../pipeline/api/api-keys.ts";
import { createApi, startApi } from "../pipeline/api/server.ts";
import { createMetrics } from "../pipeline/observability/metrics.ts";
import { loadConfig } from "../pipeline/config/config.ts";
import { createAnalytics } from "../pipeline/queries/analytics.ts";
import { fillSyntheticLedger } from "./synthetic-ledger.ts";
import { findChromium } from "../test/browser/chromium.ts";

const { values: args } = parseArgs({
  options: {
    rows: { type: "string", default: "10000000" },
    requests: { type: "string", default: "300" },
    out: { type: "string" },
    // A directory kept between runs: a ledger already filled there is used again (filling 10M rows takes minutes).
    "data-dir": { type: "string" },
  },
});
const ROWS = Number(args.rows);
const REQUESTS = Number(args.requests);

const dataDir = args["data-dir"]
  ? path.resolve(args["data-dir"])
  : path.join(mkdtempSync(path.join(os.tmpdir(), "costline-bench-console-")), "clickhouse");
const reuse = existsSync(dataDir);
const db = await openClickHouse({ dataDir } as never);
const migrateStart = performance.now();
await migrate(db.client);
const migrateSeconds = (performance.now() - migrateStart) / 1000;
const [before] = reuse ? await queryRows<{ n: string }>(db.client, "SELECT toString(count()) AS n FROM costline.ledger") : [];
const start = new Date(Date.now() - 90 * 86_400_000).toISOString().slice(0, 19).replace("T", " ");
const fillStart = performance.now();
const held = Number(before?.n ?? 0);
// Truncating the ledger would leave its rollups behind: a half-filled directory is refused instead.
if (held > 0 && held !== ROWS) throw new Error(`${dataDir} holds ${held} ledger rows, not ${ROWS}: remove it or pass --rows ${held}`);
if (held === 0) await fillSyntheticLedger(db.client, ROWS, start);
const fillSeconds = (performance.now() - fillStart) / 1000;
const [count] = await queryRows<{ n: string }>(db.client, "SELECT toString(count()) AS n FROM costline.ledger");

const keys = createKeyStore(db.client);
const tenantKey = (await keys.create({ role: "tenant", tenant: "tenant-7" }, "bench")).key;
// The bounds and lanes `costline up` gives the API (embedded: parameters inlined).
const queries = loadConfig({}).queries;
const analytics = createAnalytics({
  lanes: db.analyticsLanes(queries.connections),
  control: db.client,
  limits: queries.limits,
  inline: true,
});
const app = createApi({
  analytics,
  clickhouse: db.client,
  metrics: createMetrics(),
  keys,
  targetCostPerPost: "0.05",
  health: async () => ({ status: "healthy", checks: [] }),
});
const api = await startApi(app, "127.0.0.1", 0);

const login = await fetch(`${api.url}/login`, { method: "POST", redirect: "manual", body: new URLSearchParams({ key: tenantKey }) });
const cookie = login.headers.get("set-cookie")!.split(";")[0]!;

/** The page's own account of its query time ("… in N ms"), when it gives one. */
let lastQueryMs: number | undefined;
/**
 * CPU the process spent on the last request (Node and the in-process engine
 * together, ms): on a busy machine wall time mostly measures waiting for a
 * core, this is the work itself (an upper bound: background merges count too).
 */
let lastCpuMs = 0;
async function timed(p: string): Promise<number> {
  const cpu = process.cpuUsage();
  const t = performance.now();
  const res = await fetch(`${api.url}${p}`, { headers: { cookie } });
  const body = await res.text();
  if (res.status !== 200) throw new Error(`${p}: ${res.status}`);
  const ms = performance.now() - t;
  const used = process.cpuUsage(cpu);
  lastCpuMs = (used.user + used.system) / 1000;
  const m = / in (\d+) ms/.exec(body);
  lastQueryMs = m ? Number(m[1]) : undefined;
  return ms;
}

const quantiles = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p: number) => Number(s[Math.min(s.length - 1, Math.floor(p * s.length))]!.toFixed(1));
  return { p50: q(0.5), p95: q(0.95), p99: q(0.99), max: q(1) };
};

const loadBefore = os.loadavg()[0]!;
// Overview: the server's answer (HTML complete), warm.
for (let i = 0; i < 3; i++) await timed("/");
const overviewServer: number[] = [];
const overviewCpu: number[] = [];
for (let i = 0; i < Math.max(10, Math.round(REQUESTS / 5)); i++) {
  overviewServer.push(await timed("/"));
  overviewCpu.push(lastCpuMs);
}

// Explorer: each group-by over the last 30 days, by day, and the last 24 hours by hour.
const to = new Date(Date.now() + 60_000).toISOString().slice(0, 16);
const from30 = new Date(Date.now() - 30 * 86_400_000).toISOString().slice(0, 16);
const explorerPaths = ["persona_id", "feature", "model", "user_id", "post_id", ""].flatMap((g) => [
  `/explorer?range=custom&from=${from30}&to=${to}&granularity=day&group_by=${g}`,
  `/explorer?range=24h&granularity=hour&group_by=${g}`,
]);
const view = (p: string) => `${/group_by=([a-z_]*)/.exec(p)![1] || "none"} ${p.includes("range=24h") ? "24h/hour" : "30d/day"}`;
// Warm-up, and which table each view read (the page says it).
const sourceByView: Record<string, string> = {};
for (const p of explorerPaths) {
  const res = await fetch(`${api.url}${p}`, { headers: { cookie } });
  sourceByView[view(p)] = /from (costline\.[a-z_]+) in/.exec(await res.text())?.[1] ?? "?";
}
const explorer: number[] = [];
const byGroup: Record<string, number[]> = {};
const byView: Record<string, number[]> = {};
const queryByView: Record<string, number[]> = {};
const cpuByGroup: Record<string, number[]> = {};
for (let i = 0; i < REQUESTS; i++) {
  const p = explorerPaths[i % explorerPaths.length]!;
  const ms = await timed(p);
  explorer.push(ms);
  const g = /group_by=([a-z_]*)/.exec(p)![1] || "none";
  (byGroup[g] ??= []).push(ms);
  (byView[view(p)] ??= []).push(ms);
  if (lastQueryMs !== undefined) (queryByView[view(p)] ??= []).push(lastQueryMs);
  (cpuByGroup[g] ??= []).push(lastCpuMs);
}

// First paint in a real browser, when one is here.
let firstPaint: ReturnType<typeof quantiles> | null = null;
let panelsLoaded: ReturnType<typeof quantiles> | null = null;
const bin = findChromium();
if (bin) {
  const { chromium } = await import("playwright-core");
  const browser = await chromium.launch({
    executablePath: bin,
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  await context.addCookies([{ name: "costline_session", value: cookie.split("=")[1]!, url: api.url }]);
  const paints: number[] = [];
  const loaded: number[] = [];
  for (let i = 0; i < 12; i++) {
    const page = await context.newPage();
    await page.goto(`${api.url}/`, { waitUntil: "load" });
    // A string, not a function: tsx's transform would add helpers the page does not have.
    const fcp = (await page.evaluate(`new Promise((resolve) => {
      const hit = () => performance.getEntriesByName("first-contentful-paint")[0]?.startTime;
      if (hit() !== undefined) return resolve(hit());
      new PerformanceObserver(() => hit() !== undefined && resolve(hit())).observe({ type: "paint", buffered: true });
    })`)) as number;
    // Every lazy panel swapped in (no placeholder left), in the page's own clock (0 = navigation start).
    // (Polled inside the page: waitForFunction would eval a string, which the console's CSP refuses.)
    const done = (await page.evaluate(`new Promise((resolve) => {
      const check = () => (document.querySelector("#overview") && !document.querySelector("#overview .loading") ? resolve(performance.now()) : setTimeout(check, 5));
      check();
    })`)) as number;
    if (i >= 2) {
      paints.push(fcp);
      loaded.push(done);
    }
    await page.close();
  }
  await browser.close();
  firstPaint = quantiles(paints);
  panelsLoaded = quantiles(loaded);
}

const result = {
  // The machine's load (1-minute average) before and after the measurements, and its cores: figures on a busy machine are slower.
  machine: { cpus: os.cpus().length, load_before: Number(loadBefore.toFixed(2)), load_after: Number(os.loadavg()[0]!.toFixed(2)) },
  ledger_rows: Number(count?.n ?? 0),
  fill_seconds: Number(fillSeconds.toFixed(1)),
  reused_ledger: held > 0,
  migrate_seconds: Number(migrateSeconds.toFixed(1)),
  overview_first_paint_ms: firstPaint,
  overview_panels_loaded_ms: panelsLoaded,
  overview_server_ms: quantiles(overviewServer),
  overview_server_cpu_ms: quantiles(overviewCpu),
  explorer_requests: explorer.length,
  explorer_ms: quantiles(explorer),
  explorer_ms_by_group: Object.fromEntries(Object.entries(byGroup).map(([g, xs]) => [g, quantiles(xs)])),
  explorer_cpu_ms_by_group: Object.fromEntries(Object.entries(cpuByGroup).map(([g, xs]) => [g, quantiles(xs)])),
  explorer_ms_by_view: Object.fromEntries(Object.entries(byView).map(([v, xs]) => [v, quantiles(xs)])),
  // Of each request, the time its two ClickHouse reads took (the rest: session, rendering, HTTP).
  explorer_query_ms_by_view: Object.fromEntries(Object.entries(queryByView).map(([v, xs]) => [v, quantiles(xs)])),
  explorer_source_by_view: sourceByView,
  targets: { overview_first_paint_ms: 1000, explorer_p99_ms: 300 },
};
process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
if (args.out) writeFileSync(args.out, `${JSON.stringify(result, null, 2)}\n`);
await api.close();
await analytics.stop();
await db.close();
