// GenAI spans → usage events, and OTLP bodies → spans, without a stack.
import { describe, expect, it } from "vitest";
import { gzipSync } from "node:zlib";
import { NodeTracerProvider } from "@opentelemetry/sdk-trace-node";
import { InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { JsonTraceSerializer, ProtobufTraceSerializer } from "@opentelemetry/otlp-transformer";
import { providerId, spanToEvent } from "../../pipeline/otlp/genai-span.ts";
import {
  decodeRequest,
  decompress,
  encodingOf,
  MAX_DECOMPRESSED_BYTES,
  OtlpRequestError,
  type AttrValue,
  type OtlpSpan,
} from "../../pipeline/otlp/otlp-request.ts";
import { otlpAttributeMap, parseOtlpAttributes } from "../../pipeline/otlp/otlp-config.ts";
import { costlineEvent } from "../../schemas/index.ts";

const map = otlpAttributeMap({ persona_id: ["app.persona"] });
function span(attrs: Record<string, AttrValue>, resource: Record<string, AttrValue> = {}): OtlpSpan {
  return {
    traceId: "5b8efff798038103d269b633813fc60c",
    spanId: "eee19b7ec3c1b174",
    name: "chat",
    startNs: 1_764_583_200_000_000_000n,
    endNs: 1_764_583_200_820_000_000n,
    statusCode: 0,
    attributes: new Map(Object.entries(attrs)),
    resource: new Map(Object.entries(resource)),
  };
}

describe("spanToEvent", () => {
  it("reads the current GenAI conventions, preferring the response model", () => {
    const out = spanToEvent(
      span(
        {
          "gen_ai.provider.name": "openai",
          "gen_ai.request.model": "gpt-4o",
          "gen_ai.response.model": "gpt-4o-2024-08-06",
          "gen_ai.usage.input_tokens": 1000,
          "gen_ai.usage.output_tokens": 500,
          "gen_ai.usage.cache_read.input_tokens": 200,
          "user.id": "u-1",
        },
        { "service.name": "svc", "app.persona": "ai_jesus", "session.id": "s-9" },
      ),
      "acme",
      map,
    );
    expect(out.kind).toBe("llm");
    if (out.kind !== "llm") return;
    expect(out.event).toMatchObject({
      id: "5b8efff798038103d269b633813fc60ceee19b7ec3c1b174",
      source: "otlp",
      time: "2025-12-01T10:00:00.820Z",
      data: {
        tenant: "acme",
        provider: "openai",
        model: "gpt-4o-2024-08-06",
        usage: { input_tokens: 1000, output_tokens: 500, cache_read_tokens: 200 },
        user_id: "u-1",
        persona_id: "ai_jesus",
        correlation_id: "s-9",
        latency_ms: 820,
        tags: { "service.name": "svc" },
      },
    });
    expect(costlineEvent.safeParse(out.event).success).toBe(true);
  });

  it.each([
    [
      {
        "gen_ai.system": "anthropic",
        "gen_ai.request.model": "m",
        "gen_ai.usage.prompt_tokens": 7,
        "gen_ai.usage.completion_tokens": 3,
        "gen_ai.usage.cache_creation_input_tokens": 2,
      },
      "anthropic",
      { input_tokens: 7, output_tokens: 3, cache_write_tokens: 2 },
    ],
    [
      { "llm.provider": "openai", "llm.model_name": "m", "llm.token_count.prompt": 9, "llm.token_count.completion": 1 },
      "openai",
      { input_tokens: 9, output_tokens: 1 },
    ],
    [
      { "gen_ai.system": "openai", "gen_ai.request.model": "m", "llm.usage.prompt_tokens": "12", "llm.usage.completion_tokens": 4 },
      "openai",
      { input_tokens: 12, output_tokens: 4 },
    ],
    [{ "gen_ai.system": "openai.chat", "gen_ai.request.model": "m", "gen_ai.usage.input_tokens": 5 }, "openai", { input_tokens: 5 }],
  ])("reads older and vendor variants %#", (attrs, provider, usage) => {
    const out = spanToEvent(span(attrs), "t", map);
    expect(out).toMatchObject({ kind: "llm", event: { data: { provider, usage } } });
  });

  it("skips spans that are not LLM calls and rejects LLM spans it cannot price", () => {
    expect(spanToEvent(span({ "http.route": "/x", "gen_ai.system": "openai" }), "t", map)).toEqual({ kind: "skipped" });
    expect(spanToEvent(span({ "gen_ai.system": "openai", "gen_ai.usage.input_tokens": 5 }), "t", map)).toMatchObject({
      kind: "rejected",
      reason: expect.stringMatching(/no model/),
    });
    expect(spanToEvent(span({ "gen_ai.request.model": "m", "gen_ai.usage.input_tokens": 5 }), "t", map)).toMatchObject({
      kind: "rejected",
      reason: expect.stringMatching(/no provider/),
    });
    expect(
      spanToEvent(span({ "gen_ai.system": "openai", "gen_ai.request.model": "m", "gen_ai.usage.input_tokens": 1.5 }), "t", map),
    ).toMatchObject({ kind: "rejected", reason: expect.stringMatching(/whole number/) });
    expect(
      spanToEvent(
        { ...span({ "gen_ai.system": "openai", "gen_ai.request.model": "m", "gen_ai.usage.input_tokens": 5 }), spanId: "" },
        "t",
        map,
      ),
    ).toMatchObject({ kind: "rejected" });
  });

  it("maps convention provider names to pricing's ids", () => {
    expect(providerId("gcp.vertex_ai")).toBe("google");
    expect(providerId("aws.bedrock")).toBe("aws");
    expect(providerId("Anthropic.messages")).toBe("anthropic");
  });
});

describe("OTLP request bodies", () => {
  const memory = new InMemorySpanExporter();
  const provider = new NodeTracerProvider({
    resource: resourceFromAttributes({ "service.name": "unit" }),
    spanProcessors: [new SimpleSpanProcessor(memory)],
  });
  provider
    .getTracer("t")
    .startSpan("chat", { attributes: { "gen_ai.system": "openai", "gen_ai.usage.input_tokens": 42, tags: ["a", "b"] } })
    .end();
  const spans = memory.getFinishedSpans();
  const ctx = spans[0]!.spanContext();

  it.each([
    ["protobuf", ProtobufTraceSerializer.serializeRequest(spans)!],
    ["json", JsonTraceSerializer.serializeRequest(spans)!],
  ] as const)("decodes what OpenTelemetry's %s serializer writes", (encoding, body) => {
    const [s] = decodeRequest(body, encoding);
    expect(s).toMatchObject({ traceId: ctx.traceId, spanId: ctx.spanId, name: "chat" });
    expect(s!.attributes.get("gen_ai.usage.input_tokens")).toBe(42);
    expect(s!.attributes.get("tags")).toEqual(["a", "b"]);
    expect(s!.resource.get("service.name")).toBe("unit");
    expect(s!.endNs).toBeGreaterThan(0n);
  });

  it("refuses unreadable bodies, unknown encodings and gzip bombs", () => {
    expect(() => decodeRequest(new Uint8Array([0xff, 0xff]), "protobuf")).toThrow(OtlpRequestError);
    expect(() => decodeRequest(Buffer.from("[1"), "json")).toThrow(OtlpRequestError);
    expect(() => decompress(Buffer.from("x"), "br")).toThrow(/unsupported Content-Encoding/);
    expect(() => decompress(gzipSync(Buffer.alloc(MAX_DECOMPRESSED_BYTES + 1)), "gzip")).toThrow(OtlpRequestError);
    expect(encodingOf("application/x-protobuf")).toBe("protobuf");
    expect(encodingOf("application/json; charset=utf-8")).toBe("json");
    expect(encodingOf("text/plain")).toBeUndefined();
  });
});

describe("COSTLINE_OTLP_ATTRIBUTES", () => {
  it("puts configured names before the defaults and rejects unknown keys", () => {
    expect(parseOtlpAttributes('{"feature":["app.feature"]}', (m) => new Error(m)).feature).toEqual([
      "app.feature",
      "costline.feature",
      "feature.name",
    ]);
    expect(() => parseOtlpAttributes('{"colour":["x"]}', (m) => new Error(m))).toThrow(/colour/);
    expect(() => parseOtlpAttributes("{", (m) => new Error(m))).toThrow(/not valid JSON/);
  });
});
