// Security of the HTTP API on a running stack: every route the app registers
// (read from createApi, so routes added later are covered) needs a valid key
// except health, readiness and metrics; a tenant key sees only its tenant on
// every route, whatever it names in the path, the query or the filters;
// admin-only routes refuse tenant keys; request bodies, query strings and
// headers are bounded.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { randomBytes } from "node:crypto";
import net from "node:net";
import path from "node:path";
import { pino } from "pino";
import { createApi, type ApiDeps } from "../../pipeline/api/server.ts";
import { createKeyStore } from "../../pipeline/api/api-keys.ts";
import { openClickHouse } from "../../pipeline/clickhouse/client.ts";
import type { Config } from "../../pipeline/config/config.ts";
import { createMetrics } from "../../pipeline/observability/metrics.ts";
import { call, fillPath, pathParams, registeredRoutes, type Route } from "../helpers/api-routes.ts";
import { startStack, tempHome, type StackProcess } from "../helpers/stack-process.ts";
import { A, B, RANGE, leaked, seedTwoTenants, type TwoTenants } from "../helpers/two-tenants.ts";

const OPEN = new Set(["/healthz", "/readyz", "/metrics"]);
const METRICS_TOKEN = "metrics-token-0123456789abcdef";
const MAX_BODY = 65_536;

/** Sends `head` as it is and returns what the server answers before it closes (or 3 s pass). */
function rawHttp(base: string, head: string): Promise<string> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve) => {
    let got = "";
    const sock = net.connect({ host: hostname, port: Number(port) }, () => sock.write(head));
    sock.setTimeout(3000, () => sock.destroy());
    sock.on("data", (d) => {
      got += d.toString("latin1");
      if (/\r\n\r\n/.test(got) && !/Transfer-Encoding: chunked|Content-Length/i.test(got.split("\r\n\r\n")[0]!)) sock.destroy();
    });
    sock.on("error", () => undefined); // the server may close while we still write: what it said is what counts
    sock.on("close", () => resolve(got));
  });
}

/** A dependency that fails the test when anything touches it. */
function untouchable(name: string): unknown {
  const fail = () => {
    throw new Error(`the body limit must answer before ${name} is used`);
  };
  return new Proxy(function () {}, { get: (_t, p) => (p === "then" ? undefined : fail()), apply: fail });
}

let stack: StackProcess;
let t: TwoTenants;
let revokedKey: string;
const routes = registeredRoutes();
const guarded = routes.filter((r) => !OPEN.has(r.path));
const mutating = (r: Route) => !["GET", "HEAD"].includes(r.method);

/** Query strings a route needs to answer 200 (the rest have defaults). */
const baseQuery: Record<string, string> = {
  "/v1/costs": `from=${RANGE.from}&to=${RANGE.to}&group_by=tenant,post_id,model,persona_id,user_id,feature`,
  "/v1/reports/usage": "from=2026-11-01&to=2026-12-01",
  "/v1/exports/focus": `from=${RANGE.from}&to=${RANGE.to}`,
};
/** Routes a tenant key writes through, always into its own tenant (the key names it; nothing in the request can). */
const tenantIngest = new Set(["POST /v1/traces"]);
const withQuery = (path: string, pattern: string, extra = "") => {
  const q = [baseQuery[pattern], extra].filter(Boolean).join("&");
  return q ? `${path}?${q}` : path;
};

/** A path parameter's value that belongs to tenant A, or to tenant B. */
function paramValue(route: Route, param: string, owner: "A" | "B"): string {
  if (route.path.startsWith("/v1/posts/")) return owner === "A" ? t.markersA.post : t.postB;
  if (route.path.startsWith("/v1/silences/")) return owner === "A" ? t.markersA.silenceId : t.silenceIdB;
  if (route.path.startsWith("/v1/budgets/")) return owner === "A" ? t.markersA.budgetKey : t.budgetKeyB;
  if (route.path.startsWith("/v1/admin/keys/")) return owner === "A" ? t.keyIdA : t.keyIdB;
  return owner === "A" ? A : B; // a route added later: its parameter probably names something of a tenant
}

beforeAll(async () => {
  stack = await startStack(tempHome("costline-sec-api-"), {
    COSTLINE_API_MAX_BODY_BYTES: String(MAX_BODY),
    COSTLINE_METRICS_TOKEN: METRICS_TOKEN,
  });
  t = await seedTwoTenants(stack);
  const made = await call(stack.info.api_url, "POST", "/v1/admin/keys", {
    key: stack.adminKey,
    body: { tenant: A, name: "to be revoked" },
  });
  const k = JSON.parse(made.text) as { key: string; key_id: string };
  expect((await call(stack.info.api_url, "DELETE", `/v1/admin/keys/${k.key_id}`, { key: stack.adminKey })).status).toBe(200);
  revokedKey = k.key;
});
afterAll(async () => {
  if (stack?.child.exitCode === null) await stack.stop();
});

describe("authentication on every route but health", () => {
  it("reads the routes the app registers, and the running stack serves each of them", async () => {
    expect(guarded.length).toBeGreaterThanOrEqual(20);
    for (const p of OPEN) expect(routes.some((r) => r.path === p)).toBe(true);
    for (const r of guarded) {
      const value = (p: string) => (mutating(r) ? "no-such-thing" : paramValue(r, p, "A"));
      const path = withQuery(fillPath(r.path, value), r.path, r.path === "/v1/costs" ? "" : `tenant=${A}`);
      const res = await call(stack.info.api_url, r.method, path, { key: stack.adminKey, body: mutating(r) ? {} : undefined });
      // An unmatched route answers reason "unknown_route"; a route's own 404 (no such post, key…) does not.
      const unmatched = res.status === 404 && /"reason":"unknown_route"/.test(res.text);
      expect({ route: `${r.method} ${r.path}`, notFound: unmatched }).toEqual({
        route: `${r.method} ${r.path}`,
        notFound: false,
      });
    }
  });

  it("answers 401 without a key, with a malformed, revoked, unknown or wrong-secret key", async () => {
    const known = /^cl_([a-z0-9]{12})_/.exec(t.keyA)![1]!;
    const authorizations: [string, string | undefined][] = [
      ["no key", undefined],
      ["empty bearer", "Bearer "],
      ["malformed", "Bearer not-a-costline-key"],
      ["malformed prefix", `Bearer cl_${"A".repeat(12)}_${"x".repeat(40)}`],
      ["short secret", `Bearer cl_${known}_short`],
      ["basic scheme", `Basic ${Buffer.from(`admin:${stack.adminKey}`).toString("base64")}`],
      ["key without scheme", stack.adminKey],
      ["revoked", `Bearer ${revokedKey}`],
      ["unknown", `Bearer cl_${randomBytes(6).toString("hex")}_${randomBytes(24).toString("base64url")}`],
      ["known id, wrong secret", `Bearer cl_${known}_${randomBytes(24).toString("base64url")}`],
    ];
    let probes = 0;
    for (const r of guarded) {
      const path = fillPath(r.path, (p) => paramValue(r, p, "A"));
      for (const [label, authorization] of authorizations) {
        const res = await call(stack.info.api_url, r.method, path, { authorization, body: mutating(r) ? {} : undefined });
        expect({ route: `${r.method} ${r.path}`, label, status: res.status }).toEqual({
          route: `${r.method} ${r.path}`,
          label,
          status: 401,
        });
        expect(res.text).not.toContain(t.markersA.post);
        if (authorization) expect(res.text).not.toContain(authorization.replace(/^\w+ /, "") || "\u0000");
        probes++;
      }
    }
    expect(probes).toBe(guarded.length * authorizations.length);
    for (const p of ["/healthz", "/readyz"]) expect((await call(stack.info.api_url, "GET", p)).status).toBe(200);
    // /metrics names tenants in its cost series: with COSTLINE_METRICS_TOKEN set it needs that token, and no API key replaces it.
    expect((await call(stack.info.api_url, "GET", "/metrics")).status).toBe(401);
    expect((await call(stack.info.api_url, "GET", "/metrics", { key: stack.adminKey })).status).toBe(401);
    const scraped = await fetch(`${stack.info.api_url}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
    expect(scraped.status).toBe(200);
    expect(await scraped.text()).toMatch(/costline_cost_usd_total\{tenant="/);
  });

  it("the open endpoints carry no tenant's data", async () => {
    for (const p of OPEN) {
      const res = await call(stack.info.api_url, "GET", p);
      // Model names may label metrics (unpriced models); tenants, posts, users and amounts may not.
      const tenantData = [...t.markersB.filter((m) => !m.startsWith("claude")), A, t.markersA.post, "ua-1", "persona-alpha"];
      expect({ p, leaked: leaked(res.text, tenantData) }).toEqual({ p, leaked: [] });
    }
  });

  it("leaves no way around the key: other methods, unknown paths, odd spellings of a path", async () => {
    const attempts = [
      ["HEAD", "/v1/totals"],
      ["OPTIONS", "/v1/totals"],
      ["PATCH", "/v1/budgets"],
      ["GET", "/v1/does-not-exist"],
      ["GET", "/v1/totals/"],
      ["GET", "/v1//totals"],
      ["GET", "/v1/%74otals"],
      ["GET", "/v1/./totals"],
      ["GET", "//v1/totals"],
      ["GET", "/V1/totals"],
      ["GET", "/v1/totals%00"],
      ["GET", "/healthz/../v1/totals"],
    ] as const;
    for (const [method, path] of attempts) {
      const res = await call(stack.info.api_url, method, path);
      // Either refused for want of a key, or no such route; never an answer with data.
      expect({ method, path, status: [401, 404].includes(res.status) }).toEqual({ method, path, status: true });
      expect(res.text).not.toMatch(/"events"|cost_usd/);
    }
  });
});

describe("tenant isolation on every /v1 route", () => {
  it("the markers are real: an admin sees B's data, A's key sees A's", async () => {
    const all = await call(stack.info.api_url, "GET", withQuery("/v1/costs", "/v1/costs"), { key: stack.adminKey });
    expect(leaked(all.text, ["pb-zulu-9931", "claude-3-5-haiku", "persona-bravo-x", "ub-zulu-77", "feat-bravo-x"])).toHaveLength(5);
    const mine = await call(stack.info.api_url, "GET", withQuery("/v1/costs", "/v1/costs"), { key: t.keyA });
    expect(mine.status).toBe(200);
    expect(mine.text).toContain(t.markersA.post);
    expect(mine.text).toContain(t.markersA.model);
    expect(JSON.parse((await call(stack.info.api_url, "GET", "/v1/totals", { key: t.keyA })).text)).toMatchObject({ events: 3 });
    expect((await call(stack.info.api_url, "GET", "/v1/budgets", { key: stack.adminKey })).text).toContain("4242.42");
    expect((await call(stack.info.api_url, "GET", "/v1/controls", { key: stack.adminKey })).text).toContain("bravo-control-reason");
    expect((await call(stack.info.api_url, "GET", "/v1/silences", { key: stack.adminKey })).text).toContain("bravo-silence-comment");
  });

  it("A's key gets only A's data, or a refusal, on every route however it names B", async () => {
    const checked: string[] = [];
    for (const r of guarded) {
      const id = `${r.method} ${r.path}`;
      const variants: { label: string; path: string; body?: unknown; expect: "own" | "refused" | "admin-only" }[] = [];
      const own = fillPath(r.path, (p) => paramValue(r, p, "A"));
      const theirs = fillPath(r.path, (p) => paramValue(r, p, "B"));
      if (tenantIngest.has(id)) {
        // An OTLP export: the spans land in A's tenant whatever the request says; B is never named back.
        variants.push(
          { label: "own", path: own, body: {}, expect: "own" },
          { label: "?tenant=B", path: `${own}?tenant=${B}`, body: {}, expect: "own" },
        );
      } else if (mutating(r) || r.path.startsWith("/v1/admin/")) {
        // Tenant keys change nothing and see no keys: every mutating route and /v1/admin/* is for admins.
        const body = {
          scope: { tenant: B },
          tenant: B,
          state: "open",
          reason: "x",
          period: "monthly",
          amount_usd: "1",
          matchers: [`tenant=${B}`],
          duration: "1h",
          comment: "x",
          query: "SELECT 1",
        };
        variants.push(
          { label: "own", path: own, body, expect: "admin-only" },
          { label: "B in path", path: theirs, body, expect: "admin-only" },
        );
        variants.push({ label: "?tenant=B", path: `${own}?tenant=${B}`, body, expect: "admin-only" });
      } else {
        variants.push({ label: "own", path: withQuery(own, r.path), expect: "own" });
        variants.push({ label: "?tenant=B", path: withQuery(own, r.path, `tenant=${B}`), expect: "refused" });
        variants.push({ label: "?tenant=B&tenant=A", path: withQuery(own, r.path, `tenant=${B}&tenant=${A}`), expect: "refused" });
        if (pathParams(r.path).length) variants.push({ label: "B in path", path: withQuery(theirs, r.path), expect: "refused" });
        if (r.path === "/v1/costs")
          for (const f of [`tenant:${B}`, "post_id:pb-zulu-9931", "model:claude-3-5-haiku-20241022", "user_id:ub-zulu-77"])
            variants.push({ label: `filter ${f}`, path: withQuery(own, r.path, `filter=${encodeURIComponent(f)}`), expect: "own" });
      }
      for (const v of variants) {
        const res = await call(stack.info.api_url, r.method, v.path, { key: t.keyA, body: v.body });
        const what = { route: id, variant: v.label };
        expect({ ...what, leaked: leaked(res.text, t.markersB, v.path) }).toEqual({ ...what, leaked: [] });
        if (v.expect === "admin-only") expect({ ...what, status: res.status }).toEqual({ ...what, status: 403 });
        if (v.expect === "refused") expect({ ...what, refused: [403, 404].includes(res.status) }).toEqual({ ...what, refused: true });
        if (v.expect === "own") {
          expect({ ...what, status: res.status }).toEqual({ ...what, status: 200 });
          if (v.label.startsWith("filter")) expect(JSON.parse(res.text).rows).toEqual([]);
        }
        checked.push(`${id} ${v.label}`);
      }
    }
    expect(checked.length).toBeGreaterThan(guarded.length * 2);
  });

  it("B's key, the other way round, never sees A's post", async () => {
    const res = await call(stack.info.api_url, "GET", `/v1/posts/${t.markersA.post}/costs`, { key: t.keyB });
    expect(res.status).toBe(404);
    expect(res.text).not.toContain(t.markersA.model);
    const costs = await call(stack.info.api_url, "GET", withQuery("/v1/costs", "/v1/costs"), { key: t.keyB });
    expect(costs.text).toContain("pb-zulu-9931");
    expect(costs.text).not.toContain(t.markersA.post);
  });
});

describe("errors", () => {
  it("a database failure is a plain 500 to the caller; the detail, SQL and all, goes to the log", async () => {
    // The real embedded engine, in this process, on an empty data directory: no tables, so the key lookup fails.
    const db = await openClickHouse({ dataDir: path.join(tempHome("costline-sec-nodb-"), "clickhouse") } as Config["clickhouse"]);
    const logged: string[] = [];
    const log = pino({ level: "error" }, { write: (line: string) => void logged.push(line) });
    const app = createApi({
      clickhouse: db.client,
      keys: createKeyStore(db.client),
      metrics: createMetrics(),
      targetCostPerPost: "0.05",
      health: async () => ({ status: "healthy", checks: [] }),
      log,
    });
    try {
      const res = await app.request("/v1/totals", { headers: { authorization: `Bearer cl_${"a".repeat(12)}_${"s".repeat(40)}` } });
      expect(res.status).toBe(500);
      expect(await res.json()).toEqual({ error: "internal error; the stack's log has the details" });
      const line = JSON.parse(logged.join("")) as { msg: string; path: string; err: { message: string } };
      expect(line).toMatchObject({ msg: "API request failed", path: "/v1/totals" });
      expect(line.err.message).toMatch(/DB::Exception: Database costline does not exist/);
    } finally {
      await db.close();
    }
  });
});

describe("request size limits", () => {
  it("answers 413 to a body over COSTLINE_API_MAX_BODY_BYTES, with or without a Content-Length", async () => {
    // Raw HTTP: the server answers as soon as it knows, and closes while the client may still be sending.
    const head = (extra: string) =>
      `POST /v1/sql HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${stack.adminKey}\r\nContent-Type: application/json\r\n${extra}\r\n`;
    const big = JSON.stringify({ query: `SELECT '${"x".repeat(MAX_BODY)}'` });
    const declared = await rawHttp(stack.info.api_url, `${head(`Content-Length: ${big.length}\r\n`)}${big}`);
    expect(declared.split("\r\n")[0]).toBe("HTTP/1.1 413 Payload Too Large");
    expect(declared).toMatch(/\r\nconnection: close\r\n/i);
    expect(JSON.parse(declared.split("\r\n\r\n")[1]!).error).toBe("request body larger than 65536 bytes (COSTLINE_API_MAX_BODY_BYTES)");
    // Streamed (chunked, no Content-Length): counted as it arrives.
    const chunk = `2000\r\n${"x".repeat(8192)}\r\n`;
    const streamed = await rawHttp(stack.info.api_url, `${head("Transfer-Encoding: chunked\r\n")}${chunk.repeat(20)}0\r\n\r\n`);
    expect(streamed.split("\r\n")[0]).toBe("HTTP/1.1 413 Payload Too Large");
    // Just under the limit is read (and refused for what it says, not for its size).
    const fits = await call(stack.info.api_url, "POST", "/v1/sql", {
      key: stack.adminKey,
      rawBody: JSON.stringify({ query: `SELECT '${"x".repeat(MAX_BODY - 200)}'` }),
    });
    expect(fits.status).toBe(200);
  });

  it("defaults to 1 MiB", async () => {
    // The app alone, in this process: an admin principal, and nothing behind it that the limit may reach.
    const app = createApi(
      new Proxy({} as ApiDeps, {
        get: (_t, p) => {
          if (p === "maxBodyBytes") return undefined;
          if (p === "keys") return { verify: async () => ({ role: "admin" }) };
          if (p === "metrics") return createMetrics(); // the refused request is still counted
          if (p === "log" || p === "metricsToken" || p === "fairness" || p === "analytics") return undefined;
          return untouchable(String(p));
        },
      }),
    );
    const over = await app.request("/v1/sql", {
      method: "POST",
      body: "x".repeat(1_048_577),
      headers: { "content-type": "application/json", authorization: "Bearer any" },
    });
    expect(over.status).toBe(413);
    expect(((await over.json()) as { error: string }).error).toMatch(/larger than 1048576 bytes/);
  });

  it("answers 431 to a query string or headers over 16 KiB, and stays up", async () => {
    // Raw HTTP: Node answers 431 and closes the socket, which fetch reports as a failed request.
    const statusLine = async (head: string) => (await rawHttp(stack.info.api_url, head)).split("\r\n")[0];
    const auth = `Authorization: Bearer ${t.keyA}\r\n`;
    expect(await statusLine(`GET /v1/totals?tenant=${"a".repeat(20_000)} HTTP/1.1\r\nHost: x\r\n${auth}\r\n`)).toBe(
      "HTTP/1.1 431 Request Header Fields Too Large",
    );
    expect(await statusLine(`GET /v1/totals HTTP/1.1\r\nHost: x\r\n${auth}X-Padding: ${"p".repeat(20_000)}\r\n\r\n`)).toBe(
      "HTTP/1.1 431 Request Header Fields Too Large",
    );
    expect(
      await statusLine(`GET /v1/totals HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer cl_${"a".repeat(12)}_${"s".repeat(17_000)}\r\n\r\n`),
    ).toBe("HTTP/1.1 431 Request Header Fields Too Large");
    // Just under the limit is served.
    expect(await statusLine(`GET /v1/totals?x=${"a".repeat(14_000)} HTTP/1.1\r\nHost: x\r\n${auth}Connection: close\r\n\r\n`)).toBe(
      "HTTP/1.1 200 OK",
    );
    expect((await call(stack.info.api_url, "GET", "/v1/totals", { key: t.keyA })).status).toBe(200);
  });
});
