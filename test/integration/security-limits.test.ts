// Security findings about resources and writes, each reproduced on a running
// stack (real nats-server, embedded ClickHouse) and shown to fail safe:
// analytics never stall ingestion, a query is cancelled when its caller goes
// away, SIGTERM ends the process whatever runs, a hazardous regex is refused,
// invalid text changes nothing, a flooding key gets 429, an offset past UInt32
// is refused, and a flood of random keys costs no ClickHouse look-up each.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { randomBytes } from "node:crypto";
import path from "node:path";
import { connectStack } from "../helpers/stack-nats.ts";
import { Hono } from "hono";
import { createProducer } from "../../pipeline/producer/producer.ts";
import { createKeyStore } from "../../pipeline/api/api-keys.ts";
import { fairness } from "../../pipeline/api/fairness.ts";
import { openClickHouse, type Ledgerbase } from "../../pipeline/clickhouse/client.ts";
import { migrate } from "../../pipeline/clickhouse/migrate.ts";
import type { Config } from "../../pipeline/config/config.ts";
import type { ApiEnv } from "../../pipeline/api/auth.ts";
import { call } from "../helpers/api-routes.ts";
import { costEvent } from "../helpers/events.ts";
import { startStack, tempHome, waitFor, type StackProcess } from "../helpers/stack-process.ts";

const TIMEOUT_S = 15;
/** Runs until its time limit, in constant memory. */
const LONG_QUERY = "SELECT count() FROM system.numbers WHERE cityHash64(number) = 0";

let stack: StackProcess;
let tenantKey: string;
let otherKey: string;
/** A second admin key runs the long queries: one key never holds every analytics connection, so the first can still look. */
let longKey: string;

async function admin(method: string, p: string, body?: unknown) {
  return call(stack.info.api_url, method, p, { key: stack.adminKey, body });
}

beforeAll(async () => {
  stack = await startStack(tempHome("costline-sec-limits-"), {
    COSTLINE_QUERY_TIMEOUT_S: String(TIMEOUT_S),
    COSTLINE_API_RATE_PER_S: "5",
    COSTLINE_API_BURST: "20",
  });
  tenantKey = (JSON.parse((await admin("POST", "/v1/admin/keys", { tenant: "lim-a" })).text) as { key: string }).key;
  otherKey = (JSON.parse((await admin("POST", "/v1/admin/keys", { tenant: "lim-b" })).text) as { key: string }).key;
  longKey = (JSON.parse((await admin("POST", "/v1/admin/keys", { role: "admin", name: "long queries" })).text) as { key: string }).key;
}, 120_000);
afterAll(async () => {
  if (stack?.child.exitCode === null) await stack.kill();
});

const running = async () =>
  Number(
    (
      await stack.sql<{ n: string }>(
        "SELECT count() AS n FROM system.processes WHERE query LIKE '%system.numbers WHERE cityHash64(number) = 0%' AND query NOT LIKE '%system.processes%'",
      )
    )[0]?.n,
  );

describe("analytics never stall ingestion", () => {
  it(`an event published while a ${TIMEOUT_S}-second query runs reaches the ledger before the query ends`, async () => {
    const long = call(stack.info.api_url, "POST", "/v1/sql", { key: longKey, body: { query: LONG_QUERY } }).then((r) => ({
      r,
      at: Date.now(),
    }));
    await waitFor("the long query to run", async () => ((await running()) > 0 ? true : undefined), 30_000);
    const nc = await connectStack(stack, "publisher");
    const producer = await createProducer({ nc });
    await producer.publish([costEvent(1, "lim-a", "1.25", "test/limits")]);
    await nc.close();
    const landed = await waitFor(
      "the event in the ledger",
      async () => ((await stack.api<{ events: number }>("/v1/totals?tenant=lim-a")).events === 1 ? Date.now() : undefined),
      TIMEOUT_S * 1000,
    );
    const { r, at } = await long;
    expect(landed).toBeLessThan(at);
    // The query itself ends at its bound with a 4xx naming it.
    expect(r.status).toBe(408);
    expect(JSON.parse(r.text)).toMatchObject({ bound: "time" });
  }, 120_000);

  it("a query whose caller goes away is killed", async () => {
    const abort = new AbortController();
    const req = fetch(`${stack.info.api_url}/v1/sql`, {
      method: "POST",
      headers: { authorization: `Bearer ${longKey}` },
      body: JSON.stringify({ query: LONG_QUERY }),
      signal: abort.signal,
    }).catch(() => undefined);
    await waitFor("the long query to run", async () => ((await running()) > 0 ? true : undefined), 30_000);
    const abortedAt = Date.now();
    abort.abort();
    await req;
    await waitFor("the query to be killed", async () => ((await running()) === 0 ? true : undefined), TIMEOUT_S * 1000);
    // Gone well before its own time limit would have ended it.
    expect(Date.now() - abortedAt).toBeLessThan((TIMEOUT_S - 5) * 1000);
  }, 120_000);
});

describe("linear-time matching", () => {
  it("takes the catastrophic pattern (it runs in linear time), refuses what is not regular, and /healthz stays quick", async () => {
    const ok = await admin("POST", "/v1/silences", { matchers: ['model=~"(a+)+$"'], duration: "1h", comment: "redos" });
    expect(ok.status).toBe(201);
    const res = await admin("POST", "/v1/silences", { matchers: ['model=~"(?=a)a"'], duration: "1h", comment: "lookahead" });
    expect(res.status).toBe(400);
    expect(res.text).toMatch(/regular expression refused/);
    expect((await call(stack.info.api_url, "GET", "/healthz")).status).toBe(200);
  });
});

describe("invalid text changes nothing", () => {
  const lone = (json: string) => json.replace("LONE", "\\ud800");
  it("answers 400 on every write route with a lone surrogate, and no control, budget, silence or key appears", async () => {
    const before = JSON.parse((await admin("GET", "/v1/controls")).text).controls.length;
    const far = new Date(Date.now() + 3_600_000).toISOString();
    const bodies: [string, string, string][] = [
      ["PUT", "/v1/controls", lone(`{"scope":{"tenant":"lim-a"},"state":"open","reason":"LONE","expires_at":"${far}"}`)],
      ["DELETE", "/v1/controls", lone(`{"scope":{"tenant":"lim-a"},"reason":"LONE"}`)],
      ["PUT", "/v1/budgets", lone(`{"scope":{"tenant":"LONE"},"period":"monthly","amount_usd":"10"}`)],
      ["POST", "/v1/silences", lone(`{"matchers":["tenant=LONE"],"duration":"1h","comment":"x"}`)],
      ["POST", "/v1/admin/keys", lone(`{"tenant":"LONE"}`)],
      ["POST", "/v1/sql", lone(`{"query":"SELECT 'LONE'"}`)],
    ];
    for (const [method, p, rawBody] of bodies) {
      const res = await call(stack.info.api_url, method, p, { key: stack.adminKey, rawBody });
      expect({ p, method, status: res.status }).toEqual({ p, method, status: 400 });
      expect(res.text).toMatch(/lone UTF-16 surrogate/);
    }
    expect(JSON.parse((await admin("GET", "/v1/controls")).text).controls.length).toBe(before);
    const audit = await stack.sql<{ n: string }>("SELECT count() AS n FROM costline.control_changes WHERE tenant = 'lim-a'");
    expect(Number(audit[0]!.n)).toBe(0);
    const budgets = JSON.parse((await admin("GET", "/v1/budgets")).text).budgets as unknown[];
    expect(budgets).toEqual([]);
  });

  it("a control that lands has its audit row", async () => {
    const far = new Date(Date.now() + 3_600_000).toISOString();
    const set = await admin("PUT", "/v1/controls", { scope: { tenant: "lim-a" }, state: "open", reason: "audited pause", expires_at: far });
    expect(set.status).toBe(200);
    const rows = await stack.sql<{ action: string; reason: string }>(
      "SELECT action, reason FROM costline.control_changes WHERE tenant = 'lim-a'",
    );
    expect(rows).toEqual([{ action: "set", reason: "audited pause" }]);
    expect((await admin("DELETE", "/v1/controls", { scope: { tenant: "lim-a" }, reason: "done" })).status).toBe(200);
  });
});

describe("fairness", () => {
  it("a flooding key gets 429 with Retry-After; another key is still served", async () => {
    const answers = await Promise.all(Array.from({ length: 60 }, () => call(stack.info.api_url, "GET", "/v1/totals", { key: tenantKey })));
    const limited = answers.filter((a) => a.status === 429);
    expect(limited.length).toBeGreaterThan(0);
    expect(answers.every((a) => a.status === 200 || a.status === 429)).toBe(true);
    const res = await fetch(`${stack.info.api_url}/v1/totals`, { headers: { authorization: `Bearer ${tenantKey}` } });
    if (res.status === 429) expect(Number(res.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    expect((await call(stack.info.api_url, "GET", "/v1/totals", { key: otherKey })).status).toBe(200);
  });

  it("refuses offset=4294967296 instead of wrapping to the first page", async () => {
    // A key of its own, with a full bucket: the flooded key's refill is not what this test is about.
    const key = (JSON.parse((await admin("POST", "/v1/admin/keys", { tenant: "lim-a" })).text) as { key: string }).key;
    const res = await call(stack.info.api_url, "GET", "/v1/posts/p-1/costs?offset=4294967296", { key });
    expect(res.status).toBe(400);
    const last = await call(stack.info.api_url, "GET", "/v1/posts/p-1/costs?offset=4294967295", { key });
    expect(last.status).toBe(200);
  });
});

describe("SIGTERM", () => {
  it("ends the process within 10 s while a long query runs", async () => {
    void call(stack.info.api_url, "POST", "/v1/sql", { key: longKey, body: { query: LONG_QUERY } }).catch(() => undefined);
    await waitFor("the long query to run", async () => ((await running()) > 0 ? true : undefined), 30_000);
    const exited = new Promise<number>((resolve) => stack.child.once("exit", () => resolve(Date.now())));
    const sent = Date.now();
    stack.child.kill("SIGTERM");
    const at = await Promise.race([exited, new Promise<number>((r) => setTimeout(() => r(Infinity), 20_000))]);
    expect(at - sent).toBeLessThanOrEqual(10_000);
  }, 120_000);
});

describe("key look-ups", () => {
  let db: Ledgerbase;
  beforeAll(async () => {
    db = await openClickHouse({ dataDir: path.join(tempHome("costline-sec-keys-"), "clickhouse") } as Config["clickhouse"]);
    await migrate(db.client);
  }, 120_000);
  afterAll(async () => db?.close());

  it("a flood of random keys costs no ClickHouse look-up each, and the cache stays bounded", async () => {
    const keys = createKeyStore(db.client, 60_000, 100);
    const real = await keys.create({ role: "tenant", tenant: "lim-a" });
    for (let i = 0; i < 2000; i++) {
      expect(await keys.verify(`cl_${randomBytes(6).toString("hex")}_${randomBytes(24).toString("base64url")}`)).toBeUndefined();
    }
    expect(keys.lookups()).toBe(0);
    expect(await keys.verify(real.key)).toMatchObject({ role: "tenant", tenant: "lim-a" });
    expect(keys.lookups()).toBe(1);
  });

  it("the per-key cap on requests in flight answers 429 past it", async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const app = new Hono<ApiEnv>();
    app.use("*", async (c, next) => {
      c.set("principal", { role: "tenant", tenant: "t", keyId: c.req.header("x-key") ?? "k" });
      await next();
    });
    app.use("*", fairness({ ratePerS: 1000, burst: 1000, maxConcurrentPerKey: 2 }));
    app.get("/slow", async (c) => {
      await gate;
      return c.text("ok");
    });
    const inFlight = [app.request("/slow"), app.request("/slow")];
    await new Promise((r) => setImmediate(r));
    const third = await app.request("/slow");
    expect(third.status).toBe(429);
    expect(third.headers.get("retry-after")).toBe("1");
    const otherKeyPending = app.request("/slow", { headers: { "x-key": "other" } });
    release();
    expect((await Promise.all([...inFlight, otherKeyPending])).map((r) => r.status)).toEqual([200, 200, 200]);
  });
});
