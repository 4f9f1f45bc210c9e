// OTLP/HTTP traces into a running stack, sent by clients no one here wrote:
// the OpenTelemetry JS SDK's protobuf and JSON exporters and the Vercel AI SDK
// (a mock model, telemetry on). The ledger must then equal the expected costs
// exactly, and re-exporting the same spans must not change it.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { gzipSync } from "node:zlib";
import { Decimal } from "decimal.js";
import { NodeTracerProvider } from "@opentelemetry/sdk-trace-node";
import { InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from "@opentelemetry/sdk-trace-base";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { OTLPTraceExporter as ProtoExporter } from "@opentelemetry/exporter-trace-otlp-proto";
import { OTLPTraceExporter as JsonExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { generateText } from "ai";
import { MockLanguageModelV3 } from "ai/test";
import { loadConfig } from "../../pipeline/config/config.ts";
import { createLlmPricer } from "../../pipeline/pricing/llm-price.ts";
import { startStack, tempHome, waitFor, type StackProcess } from "../helpers/stack-process.ts";

let stack: StackProcess;
let tenantKey: string;
let otherKey: string;
const memory = new InMemorySpanExporter();
let provider: NodeTracerProvider;
let tracer: ReturnType<NodeTracerProvider["getTracer"]>;
const priceLlm = createLlmPricer(loadConfig({}).pricing);
const NOW = new Date();

/** The cost costline's own pricer gives these tokens: what the ledger must hold for the span. */
function expected(providerId: string, model: string, usage: Record<string, number>): Decimal {
  const r = priceLlm({ provider: providerId, model, usage, at: NOW });
  if (!r.priced) throw new Error(`${providerId}/${model} has no price`);
  return new Decimal(r.costUsd);
}

async function createKey(tenant: string): Promise<string> {
  const res = await fetch(`${stack.info.api_url}/v1/admin/keys`, {
    method: "POST",
    headers: { authorization: `Bearer ${stack.adminKey}`, "content-type": "application/json" },
    body: JSON.stringify({ tenant, name: `${tenant} otlp` }),
  });
  expect(res.status).toBe(201);
  return ((await res.json()) as { key: string }).key;
}

function exportWith(exporter: ProtoExporter | JsonExporter, spans: ReadableSpan[]): Promise<void> {
  return new Promise((resolve, reject) =>
    exporter.export(spans, (r) => (r.code === 0 ? resolve() : reject(r.error ?? new Error(`export failed with code ${r.code}`)))),
  );
}

interface LedgerRow {
  event_id: string;
  provider: string;
  model: string;
  cost_usd: string;
  input_tokens: string;
  output_tokens: string;
  cache_read_tokens: string;
  cache_write_tokens: string;
  user_id: string;
  persona_id: string;
  feature: string;
  correlation_id: string;
}

const ledger = (tenant: string) =>
  stack.sql<LedgerRow>(
    `SELECT event_id, provider, model, toString(cost_usd) AS cost_usd, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, ` +
      `user_id, persona_id, feature, correlation_id FROM costline.ledger FINAL WHERE tenant = '${tenant}' ORDER BY event_id`,
  );
const totals = (tenant: string) => stack.api<{ events: number; cost_usd: string }>(`/v1/totals?tenant=${tenant}`);

beforeAll(async () => {
  stack = await startStack(tempHome(), {
    COSTLINE_OTLP_ATTRIBUTES: JSON.stringify({ persona_id: ["app.persona"], feature: ["app.feature"], post_id: ["app.post"] }),
  });
  tenantKey = await createKey("otel-co");
  otherKey = await createKey("vercel-co");
  provider = new NodeTracerProvider({
    resource: resourceFromAttributes({ "service.name": "chat-api", "deployment.environment.name": "test" }),
    spanProcessors: [new SimpleSpanProcessor(memory)],
  });
  tracer = provider.getTracer("costline-test");
});
afterAll(async () => {
  await provider?.shutdown();
  if (stack?.child.exitCode === null) await stack.stop();
});

describe("OpenTelemetry SDK exporters", () => {
  const calls = [
    // Current GenAI conventions, response model preferred over the request's, cache reads.
    {
      name: "chat gpt-4o",
      attributes: {
        "gen_ai.provider.name": "openai",
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": "gpt-4o",
        "gen_ai.response.model": "gpt-4o-2024-08-06",
        "gen_ai.usage.input_tokens": 1200,
        "gen_ai.usage.output_tokens": 340,
        "gen_ai.usage.cache_read.input_tokens": 200,
        "user.id": "u-1",
        "session.id": "s-1",
        "app.persona": "ai_jesus",
        "app.feature": "hooks",
      },
      price: ["openai", "gpt-4o-2024-08-06", { input_tokens: 1200, output_tokens: 340, cache_read_tokens: 200 }],
    },
    // Older names: gen_ai.system and prompt/completion tokens, Anthropic cache creation.
    {
      name: "anthropic.messages",
      attributes: {
        "gen_ai.system": "anthropic",
        "gen_ai.request.model": "claude-sonnet-4-20250514",
        "gen_ai.usage.prompt_tokens": 4740,
        "gen_ai.usage.completion_tokens": 255,
        "gen_ai.usage.cache_creation_input_tokens": 4735,
        "user.id": "u-2",
      },
      price: ["anthropic", "claude-sonnet-4-20250514", { input_tokens: 4740, output_tokens: 255, cache_write_tokens: 4735 }],
    },
    // OpenInference.
    {
      name: "ChatCompletion",
      attributes: {
        "llm.provider": "openai",
        "llm.model_name": "gpt-4o-mini",
        "llm.token_count.prompt": 5000,
        "llm.token_count.completion": 1000,
      },
      price: ["openai", "gpt-4o-mini", { input_tokens: 5000, output_tokens: 1000 }],
    },
    // Traceloop's llm.usage.*.
    {
      name: "openai.chat",
      attributes: {
        "gen_ai.system": "openai",
        "gen_ai.request.model": "gpt-4o",
        "llm.usage.prompt_tokens": 800,
        "llm.usage.completion_tokens": 200,
      },
      price: ["openai", "gpt-4o", { input_tokens: 800, output_tokens: 200 }],
    },
  ] as const;
  let spans: ReadableSpan[] = [];
  let want: Decimal;

  it("turns GenAI spans exported as gzip protobuf into ledger rows priced exactly", async () => {
    for (const c of calls) tracer.startSpan(c.name, { attributes: c.attributes }).end();
    tracer.startSpan("GET /healthz", { attributes: { "http.request.method": "GET" } }).end(); // not an LLM call
    spans = memory.getFinishedSpans();
    expect(spans).toHaveLength(5);
    const proto = new ProtoExporter({
      url: `${stack.info.api_url}/v1/traces`,
      headers: { authorization: `Bearer ${tenantKey}` },
      compression: "gzip" as never,
    });
    await exportWith(proto, spans);
    want = calls.reduce((sum, c) => sum.plus(expected(c.price[0], c.price[1], c.price[2] as Record<string, number>)), new Decimal(0));
    const t = await waitFor("four OTLP rows", async () => {
      const r = await totals("otel-co");
      return r.events === 4 ? r : undefined;
    });
    expect(new Decimal(t.cost_usd).equals(want)).toBe(true);
    const rows = await ledger("otel-co");
    const first = spans[0]!.spanContext();
    const row = rows.find((r) => r.event_id === `${first.traceId}${first.spanId}`)!;
    expect(row).toMatchObject({ provider: "openai", user_id: "u-1", persona_id: "ai_jesus", feature: "hooks", correlation_id: "s-1" });
    expect(Number(row.cache_read_tokens)).toBe(200);
    expect(Number(rows.find((r) => r.provider === "anthropic")?.cache_write_tokens)).toBe(4735);
  });

  it("does not count the same spans twice, whichever exporter sends them again", async () => {
    const proto = new ProtoExporter({ url: `${stack.info.api_url}/v1/traces`, headers: { authorization: `Bearer ${tenantKey}` } });
    const json = new JsonExporter({ url: `${stack.info.api_url}/v1/traces`, headers: { authorization: `Bearer ${tenantKey}` } });
    await exportWith(proto, spans);
    await exportWith(json, spans);
    // A different grouping of the same spans: a new batch message that JetStream cannot recognise; the ledger must.
    await exportWith(json, spans.slice(0, 2));
    // A marker span behind the re-exports: once it is in the ledger, the re-exports were processed too.
    memory.reset();
    tracer
      .startSpan("marker", {
        attributes: {
          "gen_ai.system": "openai",
          "gen_ai.request.model": "gpt-4o-mini",
          "gen_ai.usage.input_tokens": 10,
          "gen_ai.usage.output_tokens": 1,
        },
      })
      .end();
    await exportWith(json, memory.getFinishedSpans());
    const t = await waitFor("the marker row", async () => {
      const r = await totals("otel-co");
      return r.events >= 5 ? r : undefined;
    });
    expect(t.events).toBe(5);
    expect(new Decimal(t.cost_usd).equals(want.plus(expected("openai", "gpt-4o-mini", { input_tokens: 10, output_tokens: 1 })))).toBe(true);
  });
});

describe("Vercel AI SDK with telemetry on", () => {
  it("prices generateText calls exported through the OpenTelemetry SDK", async () => {
    const aiMemory = new InMemorySpanExporter();
    const aiProvider = new NodeTracerProvider({
      resource: resourceFromAttributes({ "service.name": "vercel-app" }),
      spanProcessors: [new SimpleSpanProcessor(aiMemory)],
    });
    const model = new MockLanguageModelV3({
      provider: "openai.chat",
      modelId: "gpt-4o-mini",
      doGenerate: async () => ({
        content: [{ type: "text", text: "Hello there" }],
        finishReason: { unified: "stop", raw: "stop" },
        usage: {
          inputTokens: { total: 1500, noCache: 1500, cacheRead: 0, cacheWrite: 0 },
          outputTokens: { total: 120, text: 120, reasoning: 0 },
        },
        warnings: [],
      }),
    });
    for (const user of ["u-a", "u-b", "u-c"]) {
      await generateText({
        model,
        prompt: "Say hello",
        experimental_telemetry: {
          isEnabled: true,
          tracer: aiProvider.getTracer("ai"),
          functionId: "greeting",
          metadata: { "user.id": user },
        },
      });
    }
    const spans = aiMemory.getFinishedSpans();
    // Each call makes an outer ai.generateText span and an inner doGenerate span; only the inner one carries gen_ai.usage.*.
    expect(spans.length).toBeGreaterThanOrEqual(6);
    const exporter = new ProtoExporter({ url: `${stack.info.api_url}/v1/traces`, headers: { authorization: `Bearer ${otherKey}` } });
    await exportWith(exporter, spans);
    await exportWith(exporter, spans); // a retry
    const one = expected("openai", "gpt-4o-mini", { input_tokens: 1500, output_tokens: 120, cache_read_tokens: 0, cache_write_tokens: 0 });
    const t = await waitFor("three Vercel AI rows", async () => {
      const r = await totals("vercel-co");
      return r.events === 3 ? r : undefined;
    });
    expect(new Decimal(t.cost_usd).equals(one.times(3))).toBe(true);
    const rows = await ledger("vercel-co");
    expect(rows.map((r) => r.model)).toEqual(["gpt-4o-mini", "gpt-4o-mini", "gpt-4o-mini"]);
    await aiProvider.shutdown();
  });
});

describe("the receiver's answers", () => {
  const post = (body: NonNullable<RequestInit["body"]>, headers: Record<string, string>, key = tenantKey) =>
    fetch(`${stack.info.api_url}/v1/traces`, { method: "POST", body, headers: { authorization: `Bearer ${key}`, ...headers } });
  const span = (id: string, attributes: { key: string; value: Record<string, unknown> }[]) => ({
    traceId: "5b8efff798038103d269b633813fc60c",
    spanId: id,
    name: "chat",
    startTimeUnixNano: String(BigInt(NOW.getTime()) * 1_000_000n),
    endTimeUnixNano: String(BigInt(NOW.getTime() + 500) * 1_000_000n),
    attributes,
  });
  const str = (key: string, v: string) => ({ key, value: { stringValue: v } });
  const int = (key: string, v: number | string) => ({ key, value: { intValue: v } });

  it("answers partial success for malformed LLM spans and takes the rest (gzip JSON)", async () => {
    const body = {
      resourceSpans: [
        {
          resource: { attributes: [str("service.name", "raw")] },
          scopeSpans: [
            {
              spans: [
                span("eee4567890abcdef", [
                  str("gen_ai.system", "openai"),
                  str("gen_ai.request.model", "gpt-4o"),
                  int("gen_ai.usage.input_tokens", "100"),
                  int("gen_ai.usage.output_tokens", 10),
                ]),
                span("fff4567890abcdef", [str("gen_ai.system", "openai"), int("gen_ai.usage.input_tokens", 100)]), // no model
                span("aaa4567890abcdef", [
                  str("gen_ai.system", "openai"),
                  str("gen_ai.request.model", "gpt-4o"),
                  int("gen_ai.usage.input_tokens", -4),
                ]),
                span("bbb4567890abcdef", [str("http.route", "/x")]),
              ],
            },
          ],
        },
      ],
    };
    const before = await totals("otel-co");
    const res = await post(gzipSync(JSON.stringify(body)), { "content-type": "application/json", "content-encoding": "gzip" });
    expect(res.status).toBe(200);
    const answer = (await res.json()) as { partialSuccess?: { rejectedSpans: number; errorMessage: string } };
    expect(answer.partialSuccess?.rejectedSpans).toBe(2);
    expect(answer.partialSuccess?.errorMessage).toMatch(/no model/);
    await waitFor("the good span's row", async () => ((await totals("otel-co")).events === before.events + 1 ? true : undefined));
    const metrics = await (await fetch(`${stack.info.api_url}/metrics`)).text();
    expect(metrics).toMatch(/costline_otlp_spans_total\{result="rejected"\} 2/);
    expect(metrics).toMatch(/costline_otlp_spans_total\{result="skipped"\} [1-9]/);
  });

  it("refuses what it cannot read, keys that are not a tenant's, and callers without a key", async () => {
    expect((await post("not json", { "content-type": "application/json" })).status).toBe(400);
    expect((await post(new Uint8Array([0xff, 0xff, 0xff]), { "content-type": "application/x-protobuf" })).status).toBe(400);
    expect((await post("{}", { "content-type": "text/plain" })).status).toBe(415);
    expect((await post("{}", { "content-type": "application/json", "content-encoding": "br" })).status).toBe(415);
    expect((await post("{}", { "content-type": "application/json" }, stack.adminKey)).status).toBe(403);
    const anon = await fetch(`${stack.info.api_url}/v1/traces`, {
      method: "POST",
      body: "{}",
      headers: { "content-type": "application/json" },
    });
    expect(anon.status).toBe(401);
    // An empty request is a success with nothing rejected.
    const empty = await post("{}", { "content-type": "application/json" });
    expect(empty.status).toBe(200);
    expect(await empty.json()).toEqual({});
  });
});
