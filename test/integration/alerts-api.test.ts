// GET /v1/alerts and `costline alerts list` on a running stack: a tenant key
// reads only its tenant's alerts, the filters narrow (state, severity, type,
// scope, time), the page size is bounded, and bad filters are a clear 400.
// The alerts are real: events with models no price is known for raise
// unpriced_model alerts through the pipeline.
import { writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { call } from "../helpers/api-routes.ts";
import { runCli } from "../helpers/cli-process.ts";
import { startStack, tempHome, waitFor, type StackProcess } from "../helpers/stack-process.ts";

const A = "alerts-alpha";
const B = "alerts-bravo";
let stack: StackProcess;
let keyA: string;

type Answer = {
  tenant: string | null;
  alerts: { tenant: string; type: string; status: string; scope_key: Record<string, string> }[];
  next_offset: number | null;
};

const get = async (p: string, key: string) => {
  const r = await call(stack.info.api_url, "GET", p, { key });
  return { status: r.status, body: JSON.parse(r.text) as Answer & { error?: string } };
};

beforeAll(async () => {
  stack = await startStack(tempHome("costline-alerts-api-"));
  const key = async (tenant: string) =>
    JSON.parse((await call(stack.info.api_url, "POST", "/v1/admin/keys", { key: stack.adminKey, body: { tenant } })).text).key as string;
  keyA = await key(A);
  const event = (id: string, tenant: string, model: string) => ({
    specversion: "1.0",
    id,
    source: "test/alerts-api",
    type: "costline.llm.usage",
    time: new Date().toISOString(),
    data: { tenant, provider: "house-ai", model, usage: { input_tokens: 10, output_tokens: 10 } },
  });
  const file = path.join(stack.home, "events.ndjson");
  writeFileSync(
    file,
    [event("a1", A, "alpha-model-1"), event("a2", A, "alpha-model-2"), event("b1", B, "bravo-model-1")]
      .map((e) => JSON.stringify(e))
      .join("\n") + "\n",
  );
  const r = await runCli(["publish", "--file", file], { COSTLINE_HOME: stack.home });
  expect(r.code, r.stderr).toBe(0);
  await waitFor(
    "three unpriced-model alerts",
    async () => {
      const all = await get("/v1/alerts", stack.adminKey);
      return all.body.alerts.length === 3 ? all : undefined;
    },
    90_000,
  );
});
afterAll(async () => stack?.stop());

describe("GET /v1/alerts", () => {
  it("shows a tenant key its own alerts only, and refuses another tenant", async () => {
    const mine = await get("/v1/alerts", keyA);
    expect(mine.status).toBe(200);
    expect(mine.body.tenant).toBe(A);
    expect(mine.body.alerts.map((a) => a.scope_key.model).sort()).toEqual(["alpha-model-1", "alpha-model-2"]);
    expect(JSON.stringify(mine.body)).not.toContain(B);
    expect((await get(`/v1/alerts?tenant=${B}`, keyA)).status).toBe(403);
    const bravo = await get(`/v1/alerts?tenant=${B}`, stack.adminKey);
    expect(bravo.body.alerts.map((a) => a.tenant)).toEqual([B]);
  });

  it("filters by state, severity, type, scope and time", async () => {
    const n = async (q: string) => (await get(`/v1/alerts?${q}`, keyA)).body.alerts.length;
    expect(await n("state=firing&type=unpriced_model&severity=medium&scope=model")).toBe(2);
    expect(await n("state=resolved")).toBe(0);
    expect(await n("type=spike,budget")).toBe(0);
    expect(await n("severity=critical&severity=high")).toBe(0);
    expect(await n("scope=persona")).toBe(0);
    expect(await n(`from=${new Date(Date.now() + 3_600_000).toISOString()}`)).toBe(0);
    expect(await n(`to=${new Date(Date.now() + 3_600_000).toISOString()}&from=2026-01-01T00:00:00Z`)).toBe(2);
  });

  it("pages with a bounded size and says where the next page starts", async () => {
    const first = await get("/v1/alerts?limit=1", keyA);
    expect(first.body.alerts).toHaveLength(1);
    expect(first.body.next_offset).toBe(1);
    const second = await get("/v1/alerts?limit=1&offset=1", keyA);
    expect(second.body.alerts).toHaveLength(1);
    expect(second.body.alerts[0]).not.toEqual(first.body.alerts[0]);
    expect((await get("/v1/alerts?limit=501", keyA)).status).toBe(400);
    const bad = await get("/v1/alerts?severity=urgent", keyA);
    expect(bad.status).toBe(400);
    expect(bad.body.error).toMatch(/severity/);
  });
});

describe("costline alerts list", () => {
  it("prints the key's alerts through the API, with the same filters", async () => {
    const r = await runCli(["alerts", "list", "--state", "firing", "--type", "unpriced_model", "--limit", "10"], {
      COSTLINE_HOME: stack.home,
      COSTLINE_API_KEY: keyA,
    });
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as Answer;
    expect(out.alerts.map((a) => a.tenant)).toEqual([A, A]);
    const bad = await runCli(["alerts", "list", "--severity", "urgent"], { COSTLINE_HOME: stack.home, COSTLINE_API_KEY: keyA });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/severity/);
  });
});
