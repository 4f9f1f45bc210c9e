// The cost API on a running stack: keys and tenant scope, a post's costs with
// its audit trail and allocated shared costs, windowed aggregation in any
// time zone, the usage report, and window aggregates on the windows subject.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectStack } from "../helpers/stack-nats.ts";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { createProducer } from "../../pipeline/producer/producer.ts";
import { windowBatchSchema, type CostlineEventInput, type WindowAggregate } from "../../schemas/index.ts";
import { startStack, tempHome, waitFor, type StackProcess } from "../helpers/stack-process.ts";

let stack: StackProcess;
let nc: NatsConnection;
let acmeKey: string;
const DAY = "2026-11-20";

function llm(id: string, tenant: string, time: string, model: string, extra: Record<string, unknown> = {}): CostlineEventInput {
  return {
    specversion: "1.0",
    id,
    source: "test/api",
    type: "costline.llm.usage",
    time,
    data: {
      tenant,
      provider: "openai",
      model,
      usage: { input_tokens: 1000, output_tokens: 500 },
      persona_id: "ai_jesus",
      feature: "hooks",
      user_id: "u-1",
      ...extra,
    },
  };
}

async function get(path: string, key: string): Promise<Response> {
  return fetch(`${stack.info.api_url}${path}`, { headers: { authorization: `Bearer ${key}` } });
}

beforeAll(async () => {
  stack = await startStack(tempHome(), {
    COSTLINE_ALLOCATION_WINDOW_S: "3600",
    COSTLINE_ALLOWED_LATENESS_S: "1",
    COSTLINE_ALLOCATION_INTERVAL_S: "1",
    COSTLINE_WINDOW_S: "2",
    COSTLINE_WINDOW_EMIT_MS: "100",
    COSTLINE_TARGET_COST_PER_POST: "0.01",
  });
  nc = await connectStack(stack);
  const producer = await createProducer({ nc });
  // acme: post p-1 (two calls in hour 10, one in 11), p-2 (hour 10); an infra cost naming no post in hour 10.
  // globex: post p-g (hour 10). Out of order on purpose: the 11:00 event first.
  await producer.publish([
    llm("e3", "acme", `${DAY}T11:15:00Z`, "gpt-4o", { post_id: "p-1", user_id: "u-2" }), // 0.0075
    llm("e1", "acme", `${DAY}T10:05:00Z`, "gpt-4o", { post_id: "p-1" }), // 0.0075
    llm("e2", "acme", `${DAY}T10:10:00Z`, "gpt-4o-mini", { post_id: "p-1" }), // 0.00045
    llm("e4", "acme", `${DAY}T10:20:00Z`, "gpt-4o", { post_id: "p-2" }), // 0.0075
    llm("g1", "globex", `${DAY}T10:30:00Z`, "gpt-4o", { post_id: "p-g" }),
    {
      specversion: "1.0",
      id: "i1",
      source: "test/api",
      type: "costline.infra.usage",
      time: `${DAY}T10:40:00Z`,
      data: { tenant: "acme", resource: "cpu", quantity: 1000, unit: "core_second", service: "render" }, // 0.0115
    },
  ]);
  await waitFor("ledger rows", async () => ((await stack.api<{ events: number }>("/v1/totals")).events === 6 ? true : undefined));
  const res = await fetch(`${stack.info.api_url}/v1/admin/keys`, {
    method: "POST",
    headers: { authorization: `Bearer ${stack.adminKey}`, "content-type": "application/json" },
    body: JSON.stringify({ tenant: "acme", name: "acme dashboards" }),
  });
  expect(res.status).toBe(201);
  acmeKey = ((await res.json()) as { key: string }).key;
});
afterAll(async () => {
  await nc?.close();
  if (stack?.child.exitCode === null) await stack.stop();
});

describe("authentication and tenant scope", () => {
  it("refuses requests without a valid key", async () => {
    expect((await fetch(`${stack.info.api_url}/v1/totals`)).status).toBe(401);
    expect((await get("/v1/totals", "cl_aaaaaaaaaaaa_notavalidsecretnotavalidsecret123")).status).toBe(401);
    expect((await fetch(`${stack.info.api_url}/healthz`)).status).toBe(200);
  });

  it("shows a tenant key only its own tenant", async () => {
    expect((await get("/v1/posts/p-g/costs", acmeKey)).status).toBe(404);
    expect((await get("/v1/posts/p-g/costs?tenant=globex", acmeKey)).status).toBe(404);
    expect((await get("/v1/posts/p-g/summary", acmeKey)).status).toBe(404);
    expect(((await (await get("/v1/totals", acmeKey)).json()) as { events: number }).events).toBe(5);
    expect((await get("/v1/costs?from=2026-11-20T00:00:00Z&to=2026-11-21T00:00:00Z&tenant=globex", acmeKey)).status).toBe(403);
    const sql = await fetch(`${stack.info.api_url}/v1/sql`, {
      method: "POST",
      headers: { authorization: `Bearer ${acmeKey}` },
      body: JSON.stringify({ query: "SELECT 1" }),
    });
    expect(sql.status).toBe(403);
  });

  it("reads costline's tables in /v1/sql without their database named", async () => {
    const res = await fetch(`${stack.info.api_url}/v1/sql`, {
      method: "POST",
      headers: { authorization: `Bearer ${stack.adminKey}` },
      body: JSON.stringify({ query: "SELECT count() AS n FROM ledger FINAL WHERE tenant = 'acme'" }),
    });
    expect([res.status, (await res.text()).trim()]).toEqual([200, '{"n":5}']);
  });

  it("serves its OpenAPI document to any key", async () => {
    const res = await get("/v1/openapi.json", acmeKey);
    expect(res.status).toBe(200);
    const doc = (await res.json()) as { openapi: string; paths: Record<string, unknown> };
    expect(doc.openapi).toBe("3.1.0");
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(["/v1/posts/{id}/costs", "/v1/controls", "/v1/openapi.json"]));
  });

  it("answers an unknown /v1 route with a JSON 404 that names it, after the key check", async () => {
    const res = await get("/v1/no-such-route?x=1", acmeKey);
    expect([res.status, res.headers.get("content-type")]).toEqual([404, expect.stringMatching(/^application\/json/)]);
    expect(await res.json()).toEqual({ error: expect.stringContaining("GET /v1/no-such-route"), reason: "unknown_route" });
    expect((await fetch(`${stack.info.api_url}/v1/no-such-route`)).status).toBe(401);
  });

  it("stops accepting a revoked key", async () => {
    const created = await fetch(`${stack.info.api_url}/v1/admin/keys`, {
      method: "POST",
      headers: { authorization: `Bearer ${stack.adminKey}` },
      body: JSON.stringify({ tenant: "acme" }),
    });
    const { key, key_id } = (await created.json()) as { key: string; key_id: string };
    expect((await get("/v1/totals", key)).status).toBe(200);
    type Listed = { key_id: string; created_at: string; revoked: boolean };
    const listed = async () =>
      ((await (await get("/v1/admin/keys", stack.adminKey)).json()) as { keys: Listed[] }).keys.find((k) => k.key_id === key_id)!;
    const before = await listed();
    const del = await fetch(`${stack.info.api_url}/v1/admin/keys/${key_id}`, {
      method: "DELETE",
      headers: { authorization: `Bearer ${stack.adminKey}` },
    });
    expect(del.status).toBe(200);
    // Revoking writes a new version of the key's row; the key still shows when it was made.
    expect(await listed()).toEqual({ ...before, revoked: true });
    await waitFor("the key cache to expire", async () => ((await get("/v1/totals", key)).status === 401 ? true : undefined), 20_000);
  });
});

describe("post costs", () => {
  it("gives the total, the breakdown, coverage, allocated shared cost and the audit trail", async () => {
    // The infra cost of hour 10 is split by LLM tokens between p-1 (3000 tokens) and p-2 (1500).
    const costs = await waitFor("allocation", async () => {
      const c = (await (await get("/v1/posts/p-1/costs", acmeKey)).json()) as { allocated_usd: string };
      return c.allocated_usd !== "0" ? (c as Record<string, unknown>) : undefined;
    });
    expect(costs).toMatchObject({
      post_id: "p-1",
      direct_usd: "0.01545", // 0.0075 + 0.00045 + 0.0075
      allocated_usd: "0.007666666667", // 0.0115 × 2/3, the extra picodollar to the larger share
      total_usd: "0.023116666667",
      events: 3,
      by_kind: { llm: "0.01545", infra: "0.007666666667" },
    });
    expect((costs.by_model as { model: string; cost_usd: string }[]).map((m) => [m.model, m.cost_usd])).toEqual([
      ["gpt-4o", "0.015"],
      ["gpt-4o-mini", "0.00045"],
    ]);
    const audit = costs.audit as { event_id: string; price_source: string; components: unknown[] }[];
    expect(audit.map((a) => a.event_id)).toEqual(["e3", "e2", "e1"]);
    expect(audit[0]).toMatchObject({ price_source: "genai-prices" });
    expect(audit[0]!.components.length).toBeGreaterThan(0);
    expect(costs.allocated_audit).toEqual([
      expect.objectContaining({
        source_event_id: "i1",
        kind: "infra",
        driver: "llm_tokens",
        amount_usd: "0.007666666667",
        window_start: "2026-11-20 10:00:00",
      }),
    ]);
    const p2 = (await (await get("/v1/posts/p-2/costs", acmeKey)).json()) as { allocated_usd: string };
    expect(p2.allocated_usd).toBe("0.003833333333");
  });

  it("summarises a post against the target cost", async () => {
    const s = (await (await get("/v1/posts/p-1/summary", acmeKey)).json()) as Record<string, unknown>;
    expect(s).toMatchObject({ primary_cost_type: "llm", target_usd: "0.01", efficiency: { rating: "poor" } });
    expect((await get("/v1/posts/nope/summary", acmeKey)).status).toBe(404);
    expect((await get("/v1/posts/p-1/costs", stack.adminKey)).status).toBe(400); // an admin must name the tenant
    expect((await get("/v1/posts/p-1/costs?tenant=acme", stack.adminKey)).status).toBe(200);
  });

  it("reports coverage per tenant that adds up", async () => {
    const c = (await (await get("/v1/coverage", acmeKey)).json()) as Record<string, string>;
    expect(c).toMatchObject({
      total_usd: "0.03445",
      direct_usd: "0.02295",
      allocated_usd: "0.0115",
      unallocated_usd: "0",
      unattributed_usd: "0",
      pending_usd: "0",
    });
  });
});

describe("windowed aggregation", () => {
  it("groups by hour in the caller's time zone from the hourly rollup, out-of-order events in their hours", async () => {
    const body = (await (
      await get(`/v1/costs?from=${DAY}T00:00:00Z&to=2026-11-21T00:00:00Z&granularity=hour&tz=Europe/Berlin&group_by=model`, acmeKey)
    ).json()) as {
      source: string;
      rows: { bucket: string; model: string; cost_usd: string; events: number | string }[];
    };
    expect(body.source).toBe("costline.ledger_hour");
    expect(body.rows.map((r) => [r.bucket, r.model, r.cost_usd])).toEqual([
      ["2026-11-20 11:00:00", "", "0.0115"],
      ["2026-11-20 11:00:00", "gpt-4o", "0.015"],
      ["2026-11-20 11:00:00", "gpt-4o-mini", "0.00045"],
      ["2026-11-20 12:00:00", "gpt-4o", "0.0075"],
    ]);
  });

  it("falls back to the minute rollup for a half-hour zone, with filters", async () => {
    const body = (await (
      await get(`/v1/costs?from=${DAY}T00:00:00Z&to=2026-11-21T00:00:00Z&granularity=day&tz=Asia/Kolkata&filter=model:gpt-4o`, acmeKey)
    ).json()) as {
      source: string;
      rows: { bucket: string; cost_usd: string }[];
    };
    expect(body.source).toBe("costline.ledger_minute");
    // e1, e3 and e4 (gpt-4o) fall on 20 November in India too (15:35, 16:45, 15:50).
    expect(body.rows).toEqual([expect.objectContaining({ bucket: "2026-11-20 00:00:00", cost_usd: "0.0225" })]);
  });

  it("rejects bad input clearly", async () => {
    const bad = await get(`/v1/costs?from=${DAY}T00:00:00Z&to=2026-11-21T00:00:00Z&group_by=model;drop`, acmeKey);
    expect(bad.status).toBe(400);
    expect((await get(`/v1/costs?from=${DAY}T00:00:00Z&to=2026-11-21T00:00:00Z&tz=Mars/Olympus`, acmeKey)).status).toBe(400);
    expect((await get(`/v1/costs?from=${DAY}T00:00:00Z&to=2026-11-21T00:00:00Z&filter=secret:1`, acmeKey)).status).toBe(400);
  });

  it("exports the usage report as CSV and JSON with top users", async () => {
    const csv = await get(`/v1/reports/usage?from=${DAY}&to=2026-11-21&format=csv`, acmeKey);
    expect(csv.headers.get("content-type")).toMatch(/text\/csv/);
    const lines = (await csv.text()).trim().split("\n");
    expect(lines[0]).toBe("day,tenant,provider,model,user_id,requests,input_tokens,output_tokens,cost_usd");
    expect(lines).toContain("2026-11-20,acme,openai,gpt-4o,u-1,2,2000,1000,0.015");
    // An admin's report over every tenant says whose each row is.
    const all = await get(`/v1/reports/usage?from=${DAY}&to=2026-11-21&format=csv`, stack.adminKey);
    expect((await all.text()).trim().split("\n")).toContain("2026-11-20,globex,openai,gpt-4o,u-1,1,1000,500,0.0075");
    const json = (await (await get(`/v1/reports/usage?from=${DAY}&to=2026-11-21`, acmeKey)).json()) as { top_users: { user_id: string }[] };
    expect(json.top_users.map((u) => u.user_id)).toEqual(["u-1", "u-2"]);
  });
});

describe("windows for the detector", () => {
  it("publishes window aggregates for current traffic, updating and then final", async () => {
    const js = jetstream(nc);
    const producer = await createProducer({ nc });
    const now = new Date();
    await producer.publish([
      llm("w1", "initech", now.toISOString(), "gpt-4o", { post_id: "p-w" }),
      llm("w2", "initech", now.toISOString(), "gpt-4o"),
    ]);
    const jsm = await jetstreamManager(nc);
    const finals = await waitFor(
      "a final tenant window",
      async () => {
        const info = await jsm.streams.info("COSTLINE_WINDOWS");
        if (info.state.messages === 0) return undefined;
        const consumer = await js.consumers.get("COSTLINE_WINDOWS");
        const out: WindowAggregate[] = [];
        const batch = await consumer.fetch({ max_messages: info.state.messages, expires: 1000 });
        for await (const m of batch) {
          if (m.subject.startsWith("costline.windows.tenant.")) out.push(...windowBatchSchema.parse(m.json()));
          if (m.info.pending === 0) break;
        }
        const f = out.filter((w) => w.final && w.tenant === "initech");
        return f.length ? f : undefined;
      },
      30_000,
    );
    expect(finals[0]).toMatchObject({ scope: "tenant", events: 2, cost_usd: "0.015", final: true, by_model: { "gpt-4o": "0.015" } });
  });
});

describe("budgets and controls", () => {
  const send = (method: string, path: string, key: string, body: unknown) =>
    fetch(`${stack.info.api_url}${path}`, {
      method,
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
      body: JSON.stringify(body),
    });

  it("lets an admin set them, a tenant key read only its own, and audits every control change", async () => {
    const put = await send("PUT", "/v1/budgets", stack.adminKey, {
      scope: { tenant: "acme" },
      period: "monthly",
      timezone: "Europe/Berlin",
      amount_usd: "250",
      hard: true,
    });
    expect(put.status).toBe(200);
    expect(await put.json()).toMatchObject({ key: "acme.tenant.monthly", budget: { thresholds: [0.5, 0.75, 0.9, 1] } });
    const persona = { scope: { tenant: "acme", persona_id: "ai_jesus" }, period: "rolling_30d", amount_usd: "40" };
    expect((await send("PUT", "/v1/budgets", stack.adminKey, persona)).status).toBe(200);
    expect(
      (await send("PUT", "/v1/budgets", stack.adminKey, { scope: { tenant: "globex" }, period: "daily", amount_usd: "10" })).status,
    ).toBe(200);
    expect((await send("PUT", "/v1/budgets", acmeKey, { scope: { tenant: "acme" }, period: "monthly", amount_usd: "1" })).status).toBe(403);
    const bad = async (body: unknown) => {
      const res = await send("PUT", "/v1/budgets", stack.adminKey, body);
      return [res.status, ((await res.json()) as { error: string }).error];
    };
    expect(await bad({ scope: { tenant: "acme" }, period: "hourly", amount_usd: "1" })).toEqual([400, expect.stringContaining("period")]);
    expect(await bad({ scope: { tenant: "acme" }, period: "daily", timezone: "Mars/Olympus", amount_usd: "1" })).toEqual([
      400,
      expect.stringContaining("IANA"),
    ]);
    expect(await bad({ scope: { tenant: "acme", persona_id: "a", model: "m" }, period: "daily", amount_usd: "1" })).toEqual([
      400,
      expect.stringContaining("at most one"),
    ]);
    expect(await bad({ scope: { tenant: "acme" }, period: "daily", amount_usd: "0" })).toEqual([
      400,
      expect.stringContaining("greater than zero"),
    ]);

    // A tenant key sees its own budgets, each with the spend of its current period from the ledger.
    type Listed = {
      key: string;
      scope: { tenant: string };
      amount_usd: string;
      hard: boolean;
      state: { spend_usd: string; used: number; period_start: string };
    };
    const budgets = ((await (await get("/v1/budgets", acmeKey)).json()) as { budgets: Listed[] }).budgets;
    expect(budgets.map((b) => b.key)).toEqual(["acme.persona.ai_jesus.rolling_30d", "acme.tenant.monthly"]);
    const monthly = budgets.find((b) => b.key === "acme.tenant.monthly")!;
    expect(monthly).toMatchObject({ amount_usd: "250", hard: true });
    expect(monthly.state.period_start).toMatch(/T2[23]:00:00.000Z$/); // midnight in Berlin
    const [acmeMonth] = await stack.sql<{ spend: string }>(
      `SELECT toString(sum(ifNull(cost_usd, toDecimal128(0, 12)))) AS spend FROM costline.ledger FINAL WHERE tenant = 'acme' AND time >= parseDateTime64BestEffort('${monthly.state.period_start}', 3)`,
    );
    expect(monthly.state.spend_usd).toBe(acmeMonth!.spend);

    expect((await send("DELETE", "/v1/budgets/globex.tenant.daily", acmeKey, {})).status).toBe(403);
    expect((await send("DELETE", "/v1/budgets/globex.tenant.daily", stack.adminKey, {})).status).toBe(200);
    expect((await send("DELETE", "/v1/budgets/globex.tenant.daily", stack.adminKey, {})).status).toBe(404);
    const history = (
      (await (await get("/v1/budgets/history", stack.adminKey)).json()) as {
        changes: { budget_key: string; action: string; changed_by: string; budget: { scope: { tenant: string }; amount_usd: string } }[];
      }
    ).changes;
    expect(history.map((h) => [h.budget_key, h.action])).toEqual([
      ["globex.tenant.daily", "delete"],
      ["globex.tenant.daily", "set"],
      ["acme.persona.ai_jesus.rolling_30d", "set"],
      ["acme.tenant.monthly", "set"],
    ]);
    expect(history.every((h) => h.changed_by.startsWith("operator:"))).toBe(true);
    // Each change carries the budget itself as an object, not its JSON text in a string.
    expect(history[0]!.budget).toMatchObject({ scope: { tenant: "globex" }, period: "daily" });
    const acmeHistory = ((await (await get("/v1/budgets/history", acmeKey)).json()) as { changes: { tenant: string }[] }).changes;
    expect(acmeHistory.map((h) => h.tenant)).toEqual(["acme", "acme"]);

    const set = await send("PUT", "/v1/controls", stack.adminKey, {
      scope: { tenant: "acme", model: "gpt-4o" },
      state: "degraded",
      model_map: { "gpt-4o": "gpt-4o-mini" },
      reason: "cost review",
    });
    expect(set.status).toBe(200);
    expect(((await set.json()) as { set_by: string }).set_by).toMatch(/^operator:/);
    expect((await send("PUT", "/v1/controls", acmeKey, { scope: { tenant: "acme" }, state: "closed", reason: "x" })).status).toBe(403);
    const controls = (await (await get("/v1/controls", acmeKey)).json()) as { controls: { state: string }[] };
    expect(controls.controls.map((c) => c.state)).toEqual(["degraded"]);
    expect(
      (await send("DELETE", "/v1/controls", stack.adminKey, { scope: { tenant: "acme", model: "gpt-4o" }, reason: "done" })).status,
    ).toBe(200);
    expect(
      (await send("DELETE", "/v1/controls", stack.adminKey, { scope: { tenant: "acme", model: "gpt-4o" }, reason: "done" })).status,
    ).toBe(404);
    // The scope may be given in the query string instead: a DELETE needs no body.
    expect(
      (await send("PUT", "/v1/controls", stack.adminKey, { scope: { tenant: "acme", feature: "hooks" }, state: "open", reason: "x" }))
        .status,
    ).toBe(200);
    const byQuery = (q: string) =>
      fetch(`${stack.info.api_url}/v1/controls?${q}`, { method: "DELETE", headers: { authorization: `Bearer ${stack.adminKey}` } });
    const missingReason = await byQuery("tenant=acme&feature=hooks");
    expect([missingReason.status, ((await missingReason.json()) as { error: string }).error]).toEqual([
      400,
      expect.stringContaining("reason"),
    ]);
    const cleared = await byQuery("tenant=acme&feature=hooks&reason=resolved");
    expect([cleared.status, await cleared.json()]).toEqual([200, { cleared: { tenant: "acme", feature: "hooks" } }]);
    expect((await byQuery("tenant=acme&feature=hooks&reason=resolved")).status).toBe(404);
    const audit = await stack.sql<{ action: string }>(
      "SELECT action FROM costline.control_changes WHERE tenant = 'acme' ORDER BY changed_at",
    );
    expect(audit.map((a) => a.action)).toEqual(["set", "clear", "set", "clear"]);
  });
});
