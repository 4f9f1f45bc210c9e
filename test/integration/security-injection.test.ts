// SQL injection against every query and path parameter of every GET route
// (read from createApi), every string field of the write bodies, the tenant
// an API key is scoped to, and the admin's read-only /v1/sql. Zero leaks: A's
// key never sees B's data, a hostile tenant name sees nobody's, no answer is
// a 500 or carries a database error, and the ledger is untouched.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { call, fillPath, pathParams, pool, registeredRoutes, type Answer, type Route } from "../helpers/api-routes.ts";
import { DATABASE_ERROR, injectionPayloads, variantsFor } from "../helpers/injection-corpus.ts";
import { startStack, tempHome, type StackProcess } from "../helpers/stack-process.ts";
import { sqlEscapeCorpus } from "../helpers/injection-corpus.ts";
import { A, RANGE, leaked, seedTwoTenants, type TwoTenants } from "../helpers/two-tenants.ts";

let stack: StackProcess;
let t: TwoTenants;
let ledgerRows: number;
let tables: string;
let allMarkers: string[];
const attempts = { params: 0, tenantScope: 0, keys: 0, bodies: 0, sql: 0 };
const QUERY_TIMEOUT_S = 3;
/** /v1/sql escape attempts per class of sqlEscapeCorpus, with what each class produced. */
const sqlClasses: Record<string, { attempts: number; leaks: number; freezes: number; fivexx: number }> = {};
const findings: string[] = [];

const readRoutes = registeredRoutes().filter((r) => r.method === "GET" && r.path.startsWith("/v1/"));

/** Valid values of each route's parameters (path parameters by name); a route added later gets `tenant`. */
function validParams(r: Route): Record<string, string> {
  const common = { tenant: A };
  switch (r.path) {
    case "/v1/posts/:id/costs":
      return { ...common, id: "pa-1111", limit: "10", offset: "0" };
    case "/v1/posts/:id/summary":
      return { ...common, id: "pa-1111" };
    case "/v1/costs":
      return { ...common, ...RANGE, granularity: "day", tz: "Europe/Berlin", group_by: "model,post_id", filter: "model:gpt-4o-mini" };
    case "/v1/reports/usage":
      return { ...common, from: "2026-11-01", to: "2026-12-01", format: "json", top: "5" };
    case "/v1/coverage":
    case "/v1/totals":
      return { ...common, ...RANGE };
    case "/v1/budgets/history":
      return { ...common, limit: "10" };
    case "/v1/silences":
      return { ...common, state: "all" };
    case "/v1/silences/:id":
      return { ...common, id: t.markersA.silenceId };
    default:
      return { ...common, ...Object.fromEntries(pathParams(r.path).map((p) => [p, "x"])) };
  }
}

function url(r: Route, params: Record<string, string>): string {
  const inPath = new Set(pathParams(r.path));
  const q = new URLSearchParams(Object.entries(params).filter(([k]) => !inPath.has(k)));
  const s = q.toString();
  return `${fillPath(r.path, (p) => params[p] ?? "x")}${s ? `?${s}` : ""}`;
}

/** Records what is wrong with one answer: a 5xx, a database error in it, or data it must not carry. */
function judge(what: string, res: Answer, payload: string, mustNotContain: readonly string[], request: string): void {
  if (res.status >= 500) findings.push(`${what}: ${res.status} ${res.text.slice(0, 200)}`);
  if (res.status >= 300) {
    // Our own validation may quote the caller's input back; what remains must not be a database error.
    const own = [payload, JSON.stringify(payload).slice(1, -1)].filter((s) => s.length > 0);
    const rest = own.reduce((s, p) => s.split(p).join(""), res.text);
    if (DATABASE_ERROR.test(rest)) findings.push(`${what}: database error in the answer: ${res.text.slice(0, 200)}`);
  }
  const seen = leaked(res.text, mustNotContain, request);
  if (seen.length) findings.push(`${what}: leaked ${seen.join(", ")}`);
}

const short = (p: string) => JSON.stringify(p.length > 40 ? `${p.slice(0, 40)}…(${p.length})` : p);

beforeAll(async () => {
  // Short bounds so resource exhaustion is shown to end quickly (the defaults are 10 s and 1,000,000 rows).
  stack = await startStack(tempHome("costline-sec-inj-"), {
    COSTLINE_QUERY_TIMEOUT_S: String(QUERY_TIMEOUT_S),
    COSTLINE_QUERY_MAX_RESULT_ROWS: "100000",
  });
  t = await seedTwoTenants(stack);
  allMarkers = [...t.markersB, t.markersA.post, "pa-2222", "persona-alpha", "feat-alpha", "3.1415", A];
  ledgerRows = Number((await stack.sql<{ n: string }>("SELECT count() AS n FROM costline.ledger"))[0]?.n);
  tables = (await stack.sql<{ name: string }>("SELECT name FROM system.tables WHERE database = 'costline' ORDER BY name"))
    .map((r) => r.name)
    .join(",");
});
afterAll(async () => {
  const total = Object.values(attempts).reduce((a, b) => a + b, 0);
  process.stdout.write(`security: ${total} injection attempts (${JSON.stringify(attempts)}), ${findings.length} findings\n`);
  process.stdout.write(`security: /v1/sql escape corpus by class ${JSON.stringify(sqlClasses)}\n`);
  if (stack?.child.exitCode === null) await stack.stop();
});

describe("SQL injection corpus", () => {
  it("every query and path parameter of every GET route, with A's key: no leak of B, no 500, no database error", async () => {
    expect(readRoutes.length).toBeGreaterThanOrEqual(10);
    const tasks: (() => Promise<void>)[] = [];
    for (const r of readRoutes) {
      const valid = validParams(r);
      for (const param of Object.keys(valid)) {
        for (const v of variantsFor(param === "tenant" ? undefined : valid[param])) {
          tasks.push(async () => {
            const u = url(r, { ...valid, [param]: v });
            const res = await call(stack.info.api_url, "GET", u, { key: t.keyA });
            judge(`GET ${r.path} ${param}=${short(v)}`, res, v, t.markersB, u);
            attempts.params++;
          });
        }
      }
      if (r.path === "/v1/costs")
        for (const p of injectionPayloads)
          tasks.push(async () => {
            // The filter's key and a second filter, both hostile.
            const u = url(r, valid).replace(
              /filter=[^&]*/,
              `filter=${encodeURIComponent(`${p}:x`)}&filter=${encodeURIComponent(`post_id:${p}`)}`,
            );
            judge(`GET /v1/costs filter key ${short(p)}`, await call(stack.info.api_url, "GET", u, { key: t.keyA }), p, t.markersB, u);
            attempts.params++;
          });
    }
    await pool(tasks, 4);
    expect(findings).toEqual([]);
    expect(attempts.params).toBeGreaterThan(1000);
  });

  it("an admin naming a hostile tenant sees no tenant's data", async () => {
    const tasks = readRoutes
      .filter((r) => !r.path.startsWith("/v1/admin/")) // key management ignores ?tenant= and lists every key
      .flatMap((r) =>
        injectionPayloads.map((p) => async () => {
          const params: Record<string, string> = { ...validParams(r), tenant: p };
          if (r.path === "/v1/costs") params.filter = "kind:llm";
          const u = url(r, params);
          judge(
            `admin GET ${r.path} tenant=${short(p)}`,
            await call(stack.info.api_url, "GET", u, { key: stack.adminKey }),
            p,
            allMarkers,
            u,
          );
          attempts.tenantScope++;
        }),
      );
    await pool(tasks, 4);
    expect(findings).toEqual([]);
  });

  it("keys scoped to hostile tenant names see no tenant's data on any route", async () => {
    const hostile = injectionPayloads.filter((p) => p.length <= 128);
    const keys: { key: string; id: string; tenant: string }[] = [];
    for (const p of hostile) {
      const res = await call(stack.info.api_url, "POST", "/v1/admin/keys", { key: stack.adminKey, body: { tenant: p, name: p } });
      judge(`POST /v1/admin/keys tenant=${short(p)}`, res, p, [], "");
      attempts.bodies++;
      if (res.status === 201) {
        const k = JSON.parse(res.text) as { key: string; key_id: string; tenant: string };
        expect(k.tenant).toBe(p); // stored byte for byte, not cleaned up into something else
        keys.push({ key: k.key, id: k.key_id, tenant: p });
      }
    }
    expect(keys.length).toBeGreaterThan(hostile.length - 3);
    const tasks = keys.flatMap((k) =>
      readRoutes.map((r) => async () => {
        const params = validParams(r);
        delete (params as { tenant?: string }).tenant;
        const u = url(r, params);
        const res = await call(stack.info.api_url, "GET", u, { key: k.key });
        // The key's own tenant name is echoed back (and may contain a marker's text): that is not a leak.
        judge(`GET ${r.path} as tenant ${short(k.tenant)}`, res, k.tenant, allMarkers, `${u} ${k.tenant}`);
        if (r.path === "/v1/totals" && res.status === 200) expect(JSON.parse(res.text)).toMatchObject({ events: 0 });
        attempts.keys++;
      }),
    );
    await pool(tasks, 4);
    for (const k of keys)
      expect((await call(stack.info.api_url, "DELETE", `/v1/admin/keys/${encodeURIComponent(k.id)}`, { key: stack.adminKey })).status).toBe(
        200,
      );
    expect(findings).toEqual([]);
  });

  it("every string field of the write bodies and every path id, with an admin key: stored as data or refused with a 400", async () => {
    const created = { budgets: [] as string[], controls: [] as unknown[], silences: [] as string[] };
    const soon = new Date(Date.now() + 600_000).toISOString();
    // Four payloads at a time, each payload's requests in order (they write different keys, but for the few that
    // share one, such as the sec-inj control, a concurrent write answering 5xx would be a finding too).
    const perPayload = injectionPayloads.map((p) => async () => {
      const bodies: [string, string, unknown][] = [
        ["PUT", "/v1/budgets", { scope: { tenant: p }, period: "monthly", amount_usd: "10" }],
        ["PUT", "/v1/budgets", { scope: { tenant: "sec-inj", persona_id: p }, period: "daily", amount_usd: "10" }],
        ["PUT", "/v1/budgets", { scope: { tenant: A }, period: p, amount_usd: "10" }],
        ["PUT", "/v1/budgets", { scope: { tenant: A }, period: "monthly", amount_usd: p }],
        ["PUT", "/v1/budgets", { scope: { tenant: A }, period: "monthly", amount_usd: "10", timezone: p }],
        [
          "PUT",
          "/v1/controls",
          {
            scope: { tenant: p, model: p },
            state: "throttled",
            throttle: { requests_per_minute: 1_000_000 },
            reason: p.slice(0, 500),
            expires_at: soon,
          },
        ],
        ["PUT", "/v1/controls", { scope: { tenant: "sec-inj" }, state: p, reason: "r" }],
        ["DELETE", "/v1/controls", { scope: { tenant: p }, reason: p.slice(0, 500) }],
        ["POST", "/v1/silences", { matchers: [`tenant=${p}`], duration: "1m", comment: p.slice(0, 1000) }],
        ["POST", "/v1/silences", { matchers: [{ name: "tenant", op: "=~", value: p }], duration: "1m", comment: "c" }],
        ["DELETE", `/v1/budgets/${encodeURIComponent(p)}`, undefined],
        ["DELETE", `/v1/admin/keys/${encodeURIComponent(p)}`, undefined],
        ["DELETE", `/v1/silences/${encodeURIComponent(p)}`, undefined],
        ["GET", `/v1/silences/${encodeURIComponent(p)}`, undefined],
      ];
      for (const [method, u, body] of bodies) {
        const res = await call(stack.info.api_url, method, u, { key: stack.adminKey, body });
        judge(`${method} ${u.slice(0, 40)} ${short(p)}`, res, p, [], u);
        attempts.bodies++;
        if (res.status < 300 && method === "PUT" && u === "/v1/budgets")
          created.budgets.push((JSON.parse(res.text) as { key: string }).key);
        if (res.status < 300 && method === "PUT" && u === "/v1/controls") created.controls.push((body as { scope: unknown }).scope);
        if (res.status < 300 && method === "POST") created.silences.push((JSON.parse(res.text) as { id: string }).id);
      }
    });
    await pool(perPayload, 4);
    expect(created.budgets.length).toBeGreaterThan(injectionPayloads.length); // hostile names are data, not errors
    // Lists holding the hostile values still answer, and their spend is read with bound values.
    for (const u of ["/v1/budgets", "/v1/budgets/history?limit=10000", "/v1/controls", "/v1/silences"]) {
      const res = await call(stack.info.api_url, "GET", u, { key: stack.adminKey });
      expect({ u, status: res.status }).toEqual({ u, status: 200 });
    }
    const budgets = JSON.parse((await call(stack.info.api_url, "GET", "/v1/budgets", { key: stack.adminKey })).text) as {
      budgets: { key: string; state: { spend_usd: string } }[];
    };
    for (const k of created.budgets) expect(budgets.budgets.find((b) => b.key === k)?.state.spend_usd).toMatch(/^0(\.0+)?$/);
    for (const k of created.budgets)
      expect((await call(stack.info.api_url, "DELETE", `/v1/budgets/${encodeURIComponent(k)}`, { key: stack.adminKey })).status).toBe(200);
    for (const scope of created.controls)
      await call(stack.info.api_url, "DELETE", "/v1/controls", { key: stack.adminKey, body: { scope, reason: "cleanup" } });
    for (const id of created.silences) await call(stack.info.api_url, "DELETE", `/v1/silences/${id}`, { key: stack.adminKey });
    expect(findings).toEqual([]);
  });
});

describe("the admin's /v1/sql stays read-only", () => {
  it("refuses writes, DDL, SYSTEM, several statements, SETTINGS and table functions that reach outside, however they are spelled", async () => {
    const secretFile = path.join(stack.home, "not-for-sql.txt");
    writeFileSync(secretFile, "the-content-sql-must-not-read\n");
    const outFile = path.join(stack.home, "written-by-sql.txt");
    const refused = [
      "INSERT INTO costline.ledger (event_id) VALUES ('x')",
      "insert into costline.ledger (event_id) select 'x'",
      "ALTER TABLE costline.ledger DELETE WHERE 1",
      "ALTER TABLE costline.ledger UPDATE tenant = 'x' WHERE 1",
      "DROP TABLE costline.ledger",
      "DROP DATABASE costline",
      "TRUNCATE TABLE costline.ledger",
      "DELETE FROM costline.ledger WHERE 1",
      "OPTIMIZE TABLE costline.ledger FINAL",
      "CREATE TABLE costline.x (a UInt8) ENGINE = Memory",
      "RENAME TABLE costline.ledger TO costline.y",
      "DETACH TABLE costline.ledger",
      "SYSTEM SHUTDOWN",
      "SYSTEM DROP MARK CACHE",
      "KILL QUERY WHERE 1",
      "SET readonly = 0",
      "GRANT ALL ON *.* TO default",
      "/* comment */ DROP TABLE costline.ledger",
      "-- comment\nDROP TABLE costline.ledger",
      "WITH 1 AS x INSERT INTO costline.ledger (event_id) VALUES ('x')",
      "SELECT 1; DROP TABLE costline.ledger",
      "SELECT 1;SELECT 2",
      "SELECT 1\u0000; DROP TABLE costline.ledger",
      "SELECT 1 SETTINGS readonly = 0",
      "SELECT 1 settings/**/readonly=0",
      "SELECT 1 FORMAT JSONEachRow SETTINGS readonly=0",
      `SELECT * FROM file('${secretFile}', 'LineAsString')`,
      `SELECT * FROM FILE ('${secretFile}', 'LineAsString')`,
      `SELECT * FROM file/**/('${secretFile}', 'LineAsString')`,
      `SELECT * FROM \`file\`('${secretFile}', 'LineAsString')`,
      `SELECT * FROM "file"('${secretFile}', 'LineAsString')`,
      `SELECT * FROM fileCluster('default', '${secretFile}', 'LineAsString')`,
      `SELECT line FROM costline.ledger LEFT JOIN file('${secretFile}', 'LineAsString') ON 1 LIMIT 1`,
      "SELECT * FROM url('http://127.0.0.1:1/x', 'LineAsString')",
      "SELECT * FROM urlCluster('default', 'http://127.0.0.1:1/x', 'LineAsString')",
      "SELECT * FROM s3('http://127.0.0.1:1/b/k', 'LineAsString')",
      "SELECT * FROM remote('127.0.0.1', system.one)",
      "SELECT * FROM remoteSecure('127.0.0.1', system.one)",
      "SELECT * FROM executable('id', 'LineAsString', 'x String')",
      "SELECT * FROM input('x String')",
      `SELECT 1 INTO OUTFILE '${outFile}'`,
      `SELECT 1 INTO/**/OUTFILE '${outFile}'`,
      `SELECT 1 INTO\tOUTFILE '${outFile}' TRUNCATE`,
      `SELECT 1 into outfile '${outFile}'`,
    ];
    for (const query of refused) {
      const res = await call(stack.info.api_url, "POST", "/v1/sql", { key: stack.adminKey, body: { query } });
      attempts.sql++;
      expect({ query, status: res.status }).toEqual({ query, status: 400 });
      expect(JSON.parse(res.text).error).toMatch(/read-only|one statement|not a statement ClickHouse can parse/);
      expect(res.text).not.toMatch(/DB::Exception|the-content-sql-must-not-read/);
    }
    expect(existsSync(outFile)).toBe(false);
    // A tenant key is refused outright, and reading stays possible for the admin.
    expect((await call(stack.info.api_url, "POST", "/v1/sql", { key: t.keyA, body: { query: "SELECT 1" } })).status).toBe(403);
    const ok = await call(stack.info.api_url, "POST", "/v1/sql", {
      key: stack.adminKey,
      body: { query: "SELECT /* count */ count() AS n FROM costline.ledger -- all\n" },
    });
    expect(ok.status).toBe(200);
    expect(Number((JSON.parse(ok.text) as { n: string }).n)).toBe(Number(ledgerRows));
    const bad = await call(stack.info.api_url, "POST", "/v1/sql", {
      key: stack.adminKey,
      body: { query: "SELECT count( FROM costline.ledger" },
    });
    expect(bad.status).toBe(400);
    expect(JSON.parse(bad.text).error).toMatch(/not a statement ClickHouse can parse: Syntax error/);
  });

  it("refuses every table function, system table, outside-reaching function and caller setting (allowlist, not blocklist), and bounds what it runs", async () => {
    const secretFile = path.join(stack.home, "not-for-sql.txt");
    writeFileSync(secretFile, "the-content-sql-must-not-read\n");
    const adminKey = readFileSync(path.join(stack.home, "admin.key"), "utf8").trim();
    const outside = ["the-content-sql-must-not-read", "root:x:0:0", adminKey, "PATH=", "secret_hash", "<html", "DB::Exception"];
    for (const [cls, queries] of Object.entries(sqlEscapeCorpus)) {
      const tally = (sqlClasses[cls] = { attempts: 0, leaks: 0, freezes: 0, fivexx: 0 });
      for (const raw of queries) {
        const query = raw.replaceAll("${secret}", secretFile).replaceAll("${dir}", stack.home);
        const started = Date.now();
        const res = await call(stack.info.api_url, "POST", "/v1/sql", { key: stack.adminKey, body: { query } });
        const ms = Date.now() - started;
        tally.attempts++;
        attempts.sql++;
        if (res.status >= 500) tally.fivexx++;
        if (outside.some((m) => res.text.includes(m))) tally.leaks++;
        if (ms > (QUERY_TIMEOUT_S + 10) * 1000) tally.freezes++;
        if (cls === "resource_exhaustion") {
          // Bounded: refused by a limit (408/413) or cheap enough to answer.
          expect({ query, bounded: [200, 408, 413].includes(res.status) }).toEqual({ query, bounded: true });
        } else {
          expect({ query, status: res.status }).toEqual({ query, status: 400 });
          expect(JSON.parse(res.text).error).toMatch(/read-only SQL|empty query/);
        }
      }
      expect({ cls, ...tally }).toEqual({ cls, attempts: queries.length, leaks: 0, freezes: 0, fivexx: 0 });
    }
    expect(existsSync(path.join(stack.home, "out.csv"))).toBe(false);
    // The bounds name themselves: a big result is 413, a long query 408, each with the setting to change.
    const rows = await call(stack.info.api_url, "POST", "/v1/sql", {
      key: stack.adminKey,
      body: { query: "SELECT arrayJoin(range(10000000)) AS n" },
    });
    expect(rows.status).toBe(413);
    expect(JSON.parse(rows.text)).toMatchObject({ bound: "rows", error: expect.stringMatching(/COSTLINE_QUERY_MAX_RESULT_ROWS/) });
    const slow = await call(stack.info.api_url, "POST", "/v1/sql", {
      key: stack.adminKey,
      body: {
        // Endless and in constant memory, so only the time bound can end it.
        query: "SELECT count() FROM system.numbers WHERE cityHash64(number) = 0",
      },
    });
    expect(slow.status).toBe(408);
    expect(JSON.parse(slow.text)).toMatchObject({ bound: "time", error: expect.stringMatching(/COSTLINE_QUERY_TIMEOUT_S/) });
  }, 300_000);

  it("left the ledger and the schema as they were, and the stack up", async () => {
    const n = Number((await stack.sql<{ n: string }>("SELECT count() AS n FROM costline.ledger"))[0]?.n);
    expect(n).toBe(ledgerRows);
    expect(Number(ledgerRows)).toBe(t.events);
    const now = (await stack.sql<{ name: string }>("SELECT name FROM system.tables WHERE database = 'costline' ORDER BY name"))
      .map((r) => r.name)
      .join(",");
    expect(now).toBe(tables);
    expect((await call(stack.info.api_url, "GET", "/readyz")).status).toBe(200);
    expect(stack.child.exitCode).toBeNull();
    expect(findings).toEqual([]);
  });
});
