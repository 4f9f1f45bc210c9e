// One span → a costline.llm.usage event, following the OpenTelemetry GenAI
// semantic conventions (gen_ai.*) and the older or vendor variants still in
// wide use (gen_ai.usage.prompt_tokens, Traceloop's llm.usage.*, OpenInference's
// llm.token_count.*). A span is an LLM call when it carries a token count; one
// that does but lacks what pricing needs is rejected with a reason.
import { MAX_TOKENS_PER_EVENT, type CostlineEventInput } from "../../schemas/index.ts";
import type { AttrValue, Attributes, OtlpSpan } from "./otlp-request.ts";
import type { OtlpAttributeMap } from "./otlp-config.ts";

export type SpanOutcome = { kind: "llm"; event: CostlineEventInput } | { kind: "skipped" } | { kind: "rejected"; reason: string };

/** The event source of every span-made event; the id is trace id + span id, so a re-export is the same event. */
export const OTLP_SOURCE = "otlp";

const INPUT = ["gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens", "llm.usage.prompt_tokens", "llm.token_count.prompt"];
const OUTPUT = [
  "gen_ai.usage.output_tokens",
  "gen_ai.usage.completion_tokens",
  "llm.usage.completion_tokens",
  "llm.token_count.completion",
];
const CACHE_READ = [
  "gen_ai.usage.cache_read.input_tokens",
  "gen_ai.usage.cache_read_input_tokens",
  "llm.usage.cache_read_input_tokens",
  "llm.token_count.prompt_details.cache_read",
  "ai.usage.inputTokenDetails.cacheReadTokens",
];
const CACHE_WRITE = [
  "gen_ai.usage.cache_creation.input_tokens",
  "gen_ai.usage.cache_creation_input_tokens",
  "llm.usage.cache_creation_input_tokens",
  "llm.token_count.prompt_details.cache_write",
  "ai.usage.inputTokenDetails.cacheWriteTokens",
];
const PROVIDER = ["gen_ai.provider.name", "gen_ai.system", "llm.provider", "llm.system"];
const MODEL = ["gen_ai.response.model", "gen_ai.request.model", "llm.response.model", "llm.request.model", "llm.model_name"];

/** Semantic-convention provider names → genai-prices provider ids, where they differ. */
const PROVIDER_IDS: Record<string, string> = {
  "gcp.gemini": "google",
  "gcp.vertex_ai": "google",
  "gcp.gen_ai": "google",
  "aws.bedrock": "aws",
  "azure.ai.openai": "azure",
  "azure.ai.inference": "azure",
  "az.ai.openai": "azure",
  "az.ai.inference": "azure",
  mistral_ai: "mistral",
  x_ai: "x-ai",
};

/** The provider id pricing knows: a convention name mapped, a vendor SDK's "openai.chat" cut to "openai". */
export function providerId(raw: string): string {
  const p = raw.trim().toLowerCase();
  return PROVIDER_IDS[p] ?? p.split(".")[0]!;
}

const first = (attrs: Attributes[], keys: string[]): AttrValue | undefined => {
  for (const a of attrs) for (const k of keys) if (a.has(k) && a.get(k) !== null) return a.get(k);
  return undefined;
};
const text = (v: AttrValue | undefined): string | undefined =>
  typeof v === "string" && v.trim() !== "" ? v.trim() : typeof v === "number" ? String(v) : undefined;

/** A token count attribute: undefined when absent, "bad" when it is not a whole number in range. */
function tokenCount(attrs: Attributes, keys: string[]): number | undefined | "bad" {
  const v = first([attrs], keys);
  if (v === undefined) return undefined;
  const n = typeof v === "string" && /^\d+$/.test(v.trim()) ? Number(v) : v;
  return typeof n === "number" && Number.isInteger(n) && n >= 0 && n <= MAX_TOKENS_PER_EVENT ? n : "bad";
}

export function spanToEvent(span: OtlpSpan, tenant: string, map: OtlpAttributeMap): SpanOutcome {
  const a = span.attributes;
  const input = tokenCount(a, INPUT);
  const output = tokenCount(a, OUTPUT);
  if (input === undefined && output === undefined) return { kind: "skipped" };
  const cacheRead = tokenCount(a, CACHE_READ);
  const cacheWrite = tokenCount(a, CACHE_WRITE);
  for (const [name, v] of [
    ["input", input],
    ["output", output],
    ["cache read", cacheRead],
    ["cache write", cacheWrite],
  ] as const) {
    if (v === "bad") return { kind: "rejected", reason: `span ${span.spanId || "?"}: ${name} token count is not a whole number ≥ 0` };
  }
  if (!span.traceId || !span.spanId) return { kind: "rejected", reason: "an LLM span without a valid trace id and span id" };
  const both = [a, span.resource];
  const provider = text(first(both, PROVIDER));
  const model = text(first(both, MODEL));
  if (!provider) return { kind: "rejected", reason: `span ${span.spanId}: no provider (gen_ai.provider.name or gen_ai.system)` };
  if (!model) return { kind: "rejected", reason: `span ${span.spanId}: no model (gen_ai.response.model or gen_ai.request.model)` };
  const endNs = span.endNs || span.startNs;
  if (endNs === 0n) return { kind: "rejected", reason: `span ${span.spanId}: no start or end time` };
  const usage: Record<string, number> = {};
  if (typeof input === "number") usage.input_tokens = input;
  if (typeof output === "number") usage.output_tokens = output;
  if (typeof cacheRead === "number") usage.cache_read_tokens = cacheRead;
  if (typeof cacheWrite === "number") usage.cache_write_tokens = cacheWrite;
  const key = (k: keyof OtlpAttributeMap) => text(first(both, map[k]))?.slice(0, 256);
  const tags: Record<string, string> = {};
  const service = text(span.resource.get("service.name"));
  if (service) tags["service.name"] = service.slice(0, 256);
  const env = text(first([span.resource], ["deployment.environment.name", "deployment.environment"]));
  if (env) tags["deployment.environment"] = env.slice(0, 256);
  const latencyMs = span.endNs > span.startNs && span.startNs > 0n ? Number(span.endNs - span.startNs) / 1e6 : undefined;
  return {
    kind: "llm",
    event: {
      specversion: "1.0",
      id: `${span.traceId}${span.spanId}`,
      source: OTLP_SOURCE,
      type: "costline.llm.usage",
      time: new Date(Number(endNs / 1_000_000n)).toISOString(),
      data: {
        tenant,
        provider: providerId(provider),
        model,
        usage,
        trace_id: span.traceId,
        request_id: text(a.get("gen_ai.response.id"))?.slice(0, 256),
        user_id: key("user_id"),
        persona_id: key("persona_id"),
        feature: key("feature"),
        post_id: key("post_id"),
        operation: key("operation"),
        correlation_id: key("correlation_id"),
        ...(Object.keys(tags).length ? { tags } : {}),
        ...(latencyMs !== undefined ? { latency_ms: latencyMs } : {}),
        status: span.statusCode === 2 ? "error" : "ok",
      },
    },
  };
}
