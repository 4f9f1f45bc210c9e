// Prices worked out by hand from the providers' published price pages
// (USD per million tokens unless noted), checked exactly — not to a
// tolerance — against what costline computes. The arithmetic is in each row.
import { mkdtempSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../pipeline/config/config.ts";
import { ConfigError } from "../../pipeline/errors.ts";
import { Decimal } from "../../pipeline/pricing/decimal.ts";
import { createLlmPricer } from "../../pipeline/pricing/llm-price.ts";
import { createEventPricer } from "../../pipeline/pricing/price-event.ts";
import { costlineEvent } from "../../schemas/index.ts";

function configWith(file: unknown) {
  const dir = mkdtempSync(path.join(os.tmpdir(), "costline-pricing-"));
  writeFileSync(path.join(dir, "config.json"), JSON.stringify(file));
  return loadConfig({ COSTLINE_CONFIG: path.join(dir, "config.json") });
}

const config = configWith({
  pricing: {
    aliases: [{ provider: "azure", model: "prod-gpt4o-eastus", to: { provider: "openai", model: "gpt-4o" } }],
    models: [
      // A private model nobody publishes a price for.
      { provider: "acme-ai", model: "house-model-7", prices: { input_mtok: "1.2", output_mtok: "4" } },
      // A price cut on gpt-4o input from 2026-12-01, negotiated for everyone.
      { provider: "openai", model: "gpt-4o", from: "2026-12-01", prices: { input_mtok: "2", cache_read_mtok: "1", output_mtok: "10" } },
      // A tenant's own rate for claude-sonnet-4.
      { provider: "anthropic", model: "claude-sonnet-4-0", tenant: "initech", prices: { input_mtok: "2.4", output_mtok: "12" } },
    ],
    tenantDiscounts: [
      { tenant: "acme", provider: "openai", discount: "0.15" },
      { tenant: "umbrella", discount: "0.1", from: "2026-01-01", to: "2026-07-01" },
    ],
  },
});
const price = createLlmPricer(config.pricing);
const NOV = new Date("2026-11-22T10:00:00Z");

type Case = [
  label: string,
  provider: string,
  model: string,
  usage: Record<string, number>,
  expected: string | null,
  extra?: { at?: string; batch?: boolean; tenant?: string },
];

const cases: Case[] = [
  // ---- OpenAI (platform.openai.com/docs/pricing)
  ["gpt-4o in/out", "openai", "gpt-4o", { input_tokens: 1000, output_tokens: 500 }, "0.0075"], // 1000×2.50 + 500×10 = 7500 µ¢… /1e6
  [
    "gpt-4o dated id, cached input",
    "openai",
    "gpt-4o-2024-08-06",
    { input_tokens: 1000, cache_read_tokens: 200, output_tokens: 500 },
    "0.00725",
  ], // 800×2.5 + 200×1.25 + 500×10
  ["gpt-4o other dated id", "openai", "gpt-4o-2024-11-20", { input_tokens: 2000, output_tokens: 0 }, "0.005"], // 2000×2.5
  ["provider/model prefix", "openai", "openai/gpt-4o-mini", { input_tokens: 10_000, output_tokens: 2000 }, "0.0027"], // 10000×0.15 + 2000×0.60
  ["provider:model prefix", "openai", "openai:gpt-4.1", { input_tokens: 50_000, cache_read_tokens: 10_000, output_tokens: 3000 }, "0.109"], // 40000×2 + 10000×0.5 + 3000×8
  ["gpt-4.1-mini", "openai", "gpt-4.1-mini", { input_tokens: 1_000_000, output_tokens: 100_000 }, "0.56"], // 1e6×0.4 + 1e5×1.6
  ["gpt-4.1-nano odd counts", "openai", "gpt-4.1-nano", { input_tokens: 123_456, output_tokens: 7890 }, "0.0155016"], // 123456×0.1 + 7890×0.4
  [
    "o3 before the 2025-06-10 price cut",
    "openai",
    "o3",
    { input_tokens: 10_000, output_tokens: 5000 },
    "0.3",
    { at: "2025-05-01T00:00:00Z" },
  ], // 10000×10 + 5000×40
  ["o3 after the price cut", "openai", "o3", { input_tokens: 10_000, output_tokens: 5000 }, "0.06", { at: "2025-07-01T00:00:00Z" }], // 10000×2 + 5000×8
  ["o4-mini cached", "openai", "o4-mini", { input_tokens: 2000, cache_read_tokens: 1000, output_tokens: 1500 }, "0.007975"], // 1000×1.1 + 1000×0.275 + 1500×4.4
  [
    "gpt-5 dated, mostly cached",
    "openai",
    "gpt-5-2025-08-07",
    { input_tokens: 20_000, cache_read_tokens: 15_000, output_tokens: 4000 },
    "0.048125",
  ], // 5000×1.25 + 15000×0.125 + 4000×10
  ["gpt-5-mini", "openai", "gpt-5-mini", { input_tokens: 100_000, output_tokens: 50_000 }, "0.125"], // 1e5×0.25 + 5e4×2
  ["gpt-3.5-turbo", "openai", "gpt-3.5-turbo", { input_tokens: 1000, output_tokens: 1000 }, "0.002"], // 0.5 + 1.5 per 1M
  ["gpt-4o batch", "openai", "gpt-4o", { input_tokens: 1000, output_tokens: 500 }, "0.00375", { batch: true }], // 0.0075 × 50 %
  ["gpt-4o-mini batch, 1M each", "openai", "gpt-4o-mini", { input_tokens: 1_000_000, output_tokens: 1_000_000 }, "0.375", { batch: true }], // (0.15+0.60) × 50 %
  [
    "gpt-realtime text and audio",
    "openai",
    "gpt-realtime",
    { input_tokens: 1000, input_audio_tokens: 600, output_tokens: 400, output_audio_tokens: 300 },
    "0.0416",
  ], // 400×4 + 600×32 + 100×16 + 300×64
  // ---- Anthropic (docs.anthropic.com pricing; cache write 5 min = 1.25×, 1 h = 2×, read = 0.1× input)
  [
    "sonnet 4, 5-min cache write",
    "anthropic",
    "claude-sonnet-4-20250514",
    { input_tokens: 4740, cache_write_tokens: 4735, output_tokens: 255 },
    "0.02159625",
  ], // 5×3 + 4735×3.75 + 255×15
  [
    "sonnet 4, 1-hour cache write",
    "anthropic",
    "claude-sonnet-4-20250514",
    { input_tokens: 10_000, cache_write_tokens: 8000, cache_write_1h_tokens: 8000, output_tokens: 100 },
    "0.0555",
  ], // 2000×3 + 8000×6 + 100×15
  [
    "sonnet 4, cache read",
    "anthropic",
    "claude-sonnet-4-20250514",
    { input_tokens: 100_000, cache_read_tokens: 90_000, output_tokens: 2000 },
    "0.087",
  ], // 10000×3 + 90000×0.30 + 2000×15
  ["opus 4.1", "anthropic", "claude-opus-4-1-20250805", { input_tokens: 5000, output_tokens: 1000 }, "0.15"], // 5000×15 + 1000×75
  [
    "haiku 3.5 cache write",
    "anthropic",
    "claude-3-5-haiku-20241022",
    { input_tokens: 20_000, cache_write_tokens: 5000, output_tokens: 1000 },
    "0.021",
  ], // 15000×0.8 + 5000×1 + 1000×4
  ["sonnet 4.5 at the 200k tier boundary", "anthropic", "claude-sonnet-4-5", { input_tokens: 200_000, output_tokens: 1000 }, "0.615"], // 200000×3 + 1000×15 (200k is not above 200k)
  ["sonnet 4.5 one token past the boundary", "anthropic", "claude-sonnet-4-5", { input_tokens: 200_001, output_tokens: 1000 }, "1.222506"], // 200001×6 + 1000×22.5
  ["anthropic batch", "anthropic", "claude-sonnet-4-20250514", { input_tokens: 10_000, output_tokens: 1000 }, "0.0225", { batch: true }], // (10000×3 + 1000×15) × 50 %
  ["anthropic/ prefix", "anthropic", "anthropic/claude-opus-4", { input_tokens: 1000, output_tokens: 1000 }, "0.09"], // 1000×15 + 1000×75
  // ---- Google (ai.google.dev pricing; 2.5 Pro doubles input above 200k prompt tokens)
  ["gemini 2.5 pro ≤200k", "google", "gemini-2.5-pro", { input_tokens: 100_000, output_tokens: 10_000 }, "0.225"], // 1e5×1.25 + 1e4×10
  ["gemini 2.5 pro >200k", "google", "gemini-2.5-pro", { input_tokens: 250_000, output_tokens: 10_000 }, "0.775"], // 2.5e5×2.5 + 1e4×15
  ["gemini 2.5 pro exactly 200k", "google", "gemini-2.5-pro", { input_tokens: 200_000, output_tokens: 1000 }, "0.26"], // 2e5×1.25 + 1000×10
  [
    "gemini 2.5 flash audio input",
    "google",
    "gemini-2.5-flash",
    { input_tokens: 10_000, input_audio_tokens: 4000, output_tokens: 2000 },
    "0.0108",
  ], // 6000×0.3 + 4000×1 + 2000×2.5
  [
    "gemini 2.0 flash cached",
    "google",
    "gemini-2.0-flash",
    { input_tokens: 50_000, cache_read_tokens: 40_000, output_tokens: 1000 },
    "0.0024",
  ], // 10000×0.1 + 40000×0.025 + 1000×0.4
  ["gemini 2.5 flash-lite 1M each", "google", "gemini-2.5-flash-lite", { input_tokens: 1_000_000, output_tokens: 1_000_000 }, "0.5"], // 0.1 + 0.4
  ["Vertex provider name", "vertex_ai", "gemini-2.5-flash", { input_tokens: 1000, output_tokens: 1000 }, "0.0028"], // 1000×0.3 + 1000×2.5
  ["Vertex Claude id with @date", "google-vertex", "claude-sonnet-4@20250514", { input_tokens: 1000, output_tokens: 1000 }, "0.018"], // 1000×3 + 1000×15
  ["gemini batch", "google", "gemini-2.5-flash", { input_tokens: 10_000, output_tokens: 1000 }, "0.00275", { batch: true }], // (10000×0.3 + 1000×2.5) × 50 %
  // ---- AWS Bedrock (aws.amazon.com/bedrock/pricing, on-demand)
  [
    "Bedrock Claude 3.5 Sonnet v2",
    "aws",
    "anthropic.claude-3-5-sonnet-20241022-v2:0",
    { input_tokens: 1000, output_tokens: 1000 },
    "0.018",
  ], // 3 + 15 per 1M
  [
    "Bedrock cross-region inference id",
    "bedrock",
    "us.anthropic.claude-sonnet-4-20250514-v1:0",
    { input_tokens: 10_000, output_tokens: 1000 },
    "0.045",
  ], // 10000×3 + 1000×15
  ["Bedrock Nova Pro", "aws", "amazon.nova-pro-v1:0", { input_tokens: 10_000, output_tokens: 2000 }, "0.0144"], // 10000×0.8 + 2000×3.2
  ["Bedrock Nova Micro", "aws", "amazon.nova-micro-v1:0", { input_tokens: 1_000_000, output_tokens: 1_000_000 }, "0.175"], // 0.035 + 0.14
  ["Bedrock Llama 3.1 70B", "aws", "meta.llama3-1-70b-instruct-v1:0", { input_tokens: 1000, output_tokens: 1000 }, "0.00144"], // 0.72 + 0.72 per 1M
  ["Bedrock batch", "aws", "amazon.nova-lite-v1:0", { input_tokens: 1_000_000, output_tokens: 1_000_000 }, "0.15", { batch: true }], // (0.06 + 0.24) × 50 %
  // ---- DeepSeek (api-docs.deepseek.com: off-peak 16:30–00:30 UTC)
  [
    "deepseek-chat standard hours",
    "deepseek",
    "deepseek-chat",
    { input_tokens: 1_000_000, output_tokens: 1_000_000 },
    "1.37",
    { at: "2025-08-01T10:00:00Z" },
  ], // 0.27 + 1.10
  [
    "deepseek-chat off-peak",
    "deepseek",
    "deepseek-chat",
    { input_tokens: 1_000_000, output_tokens: 1_000_000 },
    "0.685",
    { at: "2025-08-01T20:00:00Z" },
  ], // 0.135 + 0.55
  [
    "deepseek-chat at 16:30:00 exactly",
    "deepseek",
    "deepseek-chat",
    { input_tokens: 1_000_000, output_tokens: 1_000_000 },
    "0.685",
    { at: "2025-08-01T16:30:00Z" },
  ], // the discount starts at 16:30
  [
    "deepseek-reasoner off-peak",
    "deepseek",
    "deepseek-reasoner",
    { input_tokens: 1_000_000, output_tokens: 1_000_000 },
    "0.685",
    { at: "2025-08-01T23:59:59Z" },
  ], // 0.135 + 0.55
  // ---- Configuration
  ["tenant discount 15 % on OpenAI", "openai", "gpt-4o", { input_tokens: 1000, output_tokens: 500 }, "0.006375", { tenant: "acme" }], // 0.0075 × 0.85
  ["another tenant pays list price", "openai", "gpt-4o", { input_tokens: 1000, output_tokens: 500 }, "0.0075", { tenant: "globex" }],
  [
    "batch and tenant discount together",
    "openai",
    "gpt-4o",
    { input_tokens: 1000, output_tokens: 500 },
    "0.0031875",
    { tenant: "acme", batch: true },
  ], // 0.0075 × 0.5 × 0.85
  [
    "tenant-wide discount inside its dates",
    "google",
    "gemini-2.5-flash",
    { input_tokens: 10_000, output_tokens: 1000 },
    "0.00495",
    { tenant: "umbrella", at: "2026-03-01T00:00:00Z" },
  ], // 0.0055 × 0.9
  [
    "tenant-wide discount after it ended",
    "google",
    "gemini-2.5-flash",
    { input_tokens: 10_000, output_tokens: 1000 },
    "0.0055",
    { tenant: "umbrella", at: "2026-07-01T00:00:00Z" },
  ],
  ["private model from configuration", "acme-ai", "house-model-7", { input_tokens: 10_000, output_tokens: 2000 }, "0.02"], // 10000×1.2 + 2000×4
  ["override not yet in force", "openai", "gpt-4o", { input_tokens: 1000, output_tokens: 500 }, "0.0075", { at: "2026-11-30T23:59:59Z" }],
  ["override in force", "openai", "gpt-4o", { input_tokens: 1000, output_tokens: 500 }, "0.007", { at: "2026-12-02T00:00:00Z" }], // 1000×2 + 500×10
  [
    "tenant's negotiated model price",
    "anthropic",
    "claude-sonnet-4-20250514",
    { input_tokens: 10_000, output_tokens: 1000 },
    "0.036",
    { tenant: "initech" },
  ], // 10000×2.4 + 1000×12
  ["Azure deployment name from configuration", "azure", "prod-gpt4o-eastus", { input_tokens: 1000, output_tokens: 500 }, "0.0075"],
  ["unknown model", "acme-ai", "house-model-8", { input_tokens: 10, output_tokens: 10 }, null],
];

describe("hand-worked prices", () => {
  it("has at least 40 cases", () => expect(cases.length).toBeGreaterThanOrEqual(40));

  it.each(cases)("%s", (_label, provider, model, usage, expected, extra = {}) => {
    const r = price({ provider, model, usage, at: extra.at ? new Date(extra.at) : NOV, tenant: extra.tenant, batch: extra.batch });
    if (expected === null) {
      expect(r).toMatchObject({ priced: false, reason: "unknown_model" });
      return;
    }
    expect(r.priced).toBe(true);
    if (!r.priced) return;
    expect(new Decimal(r.costUsd).minus(expected).abs().lte("1e-9"), `${r.costUsd} ≠ ${expected}`).toBe(true);
    expect(r.costUsd).toBe(new Decimal(expected).toFixed());
    // The itemised components add up to the total.
    expect(r.components.reduce((s, c) => s.plus(c.amount_usd), new Decimal(0)).toFixed()).toBe(r.costUsd);
  });
});

describe("price provenance and breakdown", () => {
  it("names the library and its version, or the configuration entry", () => {
    const lib = price({ provider: "openai", model: "gpt-4o", usage: { input_tokens: 1 }, at: NOV });
    const cfg = price({ provider: "acme-ai", model: "house-model-7", usage: { input_tokens: 1 }, at: NOV });
    const own = price({ provider: "anthropic", model: "claude-sonnet-4-0", usage: { input_tokens: 1 }, at: NOV, tenant: "initech" });
    expect(lib).toMatchObject({ source: "genai-prices", version: expect.stringMatching(/^\d+\.\d+\.\d+$/) });
    expect(cfg).toMatchObject({ source: "config", version: "1970-01-01" });
    expect(own).toMatchObject({ source: "config:tenant" });
  });

  it("itemises discounts as negative components", () => {
    const r = price({
      provider: "openai",
      model: "gpt-4o",
      usage: { input_tokens: 1000, output_tokens: 500 },
      at: NOV,
      tenant: "acme",
      batch: true,
    });
    expect(r.priced && r.components.map((c) => [c.unit, c.amount_usd])).toEqual([
      ["input_mtok", "0.0025"],
      ["output_mtok", "0.005"],
      ["batch_discount", "-0.00375"],
      ["tenant_discount", "-0.0005625"],
    ]);
  });

  it("refuses usage whose parts exceed the whole, and unknown usage keys", () => {
    expect(() => price({ provider: "openai", model: "gpt-4o", usage: { input_tokens: 10, cache_read_tokens: 50 }, at: NOV })).toThrow(
      /inconsistent/,
    );
    expect(() => price({ provider: "openai", model: "gpt-4o", usage: { input_tokens: 10, thinking_tokens: 5 }, at: NOV })).toThrow(
      /unknown usage key/,
    );
  });

  it("rejects a configuration with an unknown price key or a discount above 100 %", () => {
    expect(() => configWith({ pricing: { models: [{ provider: "x", model: "y", prices: { inptu_mtok: "1" } }] } })).toThrow(ConfigError);
    expect(() => configWith({ pricing: { models: [{ provider: "x", model: "y", prices: { inptu_mtok: "1" } }] } })).toThrow(
      /unknown price key "inptu_mtok"/,
    );
    expect(() => configWith({ pricing: { tenantDiscounts: [{ tenant: "a", discount: "1.5" }] } })).toThrow(/between 0 and 1/);
    expect(() => configWith({ pricing: { models: [{ provider: "x", model: "y", prices: { input_mtok: 1.5 } }] } })).toThrow(ConfigError);
  });
});

describe("event pricing", () => {
  const cards = configWith({
    rateCards: {
      infra: [
        { resource: "cpu", unit: "core_second", price: "0.00001" },
        { resource: "cpu", unit: "core_second", price: "0.000008", from: "2026-06-01" },
      ],
      vectordb: [{ provider: "pinecone", read_unit: "0.000016", write_unit: "0.000004", storage_gib_month: "0.33" }],
    },
  });
  const toPriced = createEventPricer(cards);
  const parse = (e: unknown) => costlineEvent.parse(e);
  const base = { specversion: "1.0", id: "x", source: "s" };

  it("takes pre-priced amounts as given, as decimals", () => {
    const e = toPriced(
      parse({ ...base, type: "costline.cost", data: { tenant: "t", amount: "0.000001", currency: "USD", category: "gpu" } }),
      NOV,
    );
    expect(e).toMatchObject({
      cost_usd: "0.000001",
      priced: true,
      kind: "cost",
      price_source: "producer",
      attribution_method: "unattributed",
    });
  });

  it("prices infra from the rate card in force at the event's time", () => {
    const infra = (time: string) =>
      toPriced(
        parse({
          ...base,
          time,
          type: "costline.infra.usage",
          data: { tenant: "t", resource: "cpu", quantity: 3600, unit: "core_second", service: "api" },
        }),
        NOV,
      );
    expect(infra("2026-05-31T23:59:59Z")).toMatchObject({
      cost_usd: "0.036",
      price_source: "rate-card",
      price_version: "1970-01-01",
      attribution_method: "allocated",
    }); // 3600 × 0.00001
    expect(infra("2026-06-01T00:00:00Z")).toMatchObject({ cost_usd: "0.0288", price_version: "2026-06-01" }); // 3600 × 0.000008
  });

  it("marks a shared cost that names no post as allocated, even with a feature or an operation (the allocator splits it)", () => {
    const vector = (data: Record<string, unknown>) =>
      toPriced(
        parse({ ...base, type: "costline.vectordb.usage", data: { tenant: "t", provider: "pinecone", read_units: 4, ...data } }),
        NOV,
      );
    expect(vector({ operation: "query", feature: "search" })).toMatchObject({ post_id: undefined, attribution_method: "allocated" });
    expect(vector({ operation: "query", post_id: "p-1" })).toMatchObject({ attribution_method: "direct" });
  });

  it("prices vector-db reads, writes and storage", () => {
    const e = toPriced(
      parse({
        ...base,
        type: "costline.vectordb.usage",
        data: { tenant: "t", provider: "Pinecone", operation: "upsert", read_units: 1000, write_units: 500, storage_gib_month: 2 },
      }),
      NOV,
    );
    expect(e.cost_usd).toBe("0.678"); // 1000×0.000016 + 500×0.000004 + 2×0.33
  });

  it("leaves usage it has no rate for unpriced, with the reason", () => {
    const e = toPriced(
      parse({
        ...base,
        type: "costline.infra.usage",
        data: { tenant: "t", resource: "gpu", quantity: 1, unit: "gpu_second", service: "x" },
      }),
      NOV,
    );
    expect(e).toMatchObject({ cost_usd: null, priced: false, unpriced_reason: "no_rate_card:gpu/gpu_second" });
  });

  it("records revenue apart from cost", () => {
    const e = toPriced(
      parse({ ...base, type: "costline.revenue", data: { tenant: "t", post_id: "p", amount: "4.99", currency: "USD" } }),
      NOV,
    );
    expect(e).toMatchObject({ cost_usd: "0", revenue_usd: "4.99", attribution_method: "direct" });
  });

  it("flags, not drops, an amount in a currency it cannot convert", () => {
    const e = toPriced(parse({ ...base, type: "costline.cost", data: { tenant: "t", amount: "1", currency: "EUR", category: "x" } }), NOV);
    expect(e).toMatchObject({ cost_usd: null, priced: false, unpriced_reason: "currency_not_supported:EUR" });
  });

  it("prices an LLM event with the tenant and batch flag it carries", () => {
    const e = createEventPricer(config)(
      parse({
        ...base,
        time: "2026-11-22T10:00:00Z",
        type: "costline.llm.usage",
        data: { tenant: "acme", provider: "openai", model: "gpt-4o", batch: true, usage: { input_tokens: 1000, output_tokens: 500 } },
      }),
      NOV,
    );
    expect(e).toMatchObject({ cost_usd: "0.0031875", model: "gpt-4o", model_requested: "gpt-4o", price_source: "genai-prices" });
  });
});
