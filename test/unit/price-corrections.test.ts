// The corrections shipped in pipeline/pricing/corrections/price-corrections.json,
// each checked against a price worked out by hand from the page the correction
// names (USD per million tokens; the arithmetic is beside each case), and the
// provider rules: inferred when the id names it, an unknown one never remapped.
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../pipeline/config/config.ts";
import { Decimal } from "../../pipeline/pricing/decimal.ts";
import { createLlmPricer } from "../../pipeline/pricing/llm-price.ts";
import { createEventPricer } from "../../pipeline/pricing/price-event.ts";
import { parseOverlay, shippedOverlay } from "../../pipeline/pricing/price-overlay.ts";
import { costlineEvent } from "../../schemas/index.ts";
import { ConfigError } from "../../pipeline/errors.ts";

const config = loadConfig({});
const price = createLlmPricer(config.pricing);
const cacheMix = { input_tokens: 10_000, cache_write_tokens: 8000, cache_write_1h_tokens: 8000, output_tokens: 100 };

type Case = [label: string, provider: string, model: string, usage: Record<string, number>, at: string, expected: string, source: string];

const cases: Case[] = [
  // ---- DeepSeek: api-docs.deepseek.com/quick_start/pricing — the night discount ended 2025-09-05 16:00 UTC
  [
    "deepseek-chat at 17:00 UTC after the discount ended (was the night price)",
    "deepseek",
    "deepseek-chat",
    { input_tokens: 1_000_000, cache_read_tokens: 200_000, output_tokens: 1_000_000 },
    "2025-09-10T17:00:00Z",
    "2.142", // 800000×0.56 + 200000×0.07 + 1e6×1.68 = 0.448 + 0.014 + 1.68
    "api-docs.deepseek.com/quick_start/pricing, from 2025-09-05 16:00 UTC",
  ],
  [
    "deepseek-chat the minute before the change still has the discount",
    "deepseek",
    "deepseek-chat",
    { input_tokens: 1_000_000, output_tokens: 1_000_000 },
    "2025-09-05T15:59:00Z",
    "1.37", // 0.27 + 1.10 (standard hours, old list)
    "api-docs.deepseek.com/quick_start/pricing, list in force until 2025-09-05 16:00 UTC",
  ],
  [
    "deepseek-reasoner at night after the change",
    "deepseek",
    "deepseek-reasoner",
    { input_tokens: 1_000_000, output_tokens: 1_000_000 },
    "2025-09-20T23:00:00Z",
    "2.24", // 0.56 + 1.68: one price for both models, no night discount
    "api-docs.deepseek.com/quick_start/pricing, from 2025-09-05 16:00 UTC",
  ],
  [
    "deepseek-chat today at 17:00 UTC (the issue's --at 2026-12-01T17:00Z)",
    "deepseek",
    "deepseek-chat",
    { input_tokens: 1_000_000, cache_read_tokens: 500_000, output_tokens: 100_000 },
    "2026-12-01T17:00:00Z",
    "0.196", // 500000×0.28 + 500000×0.028 + 100000×0.42 = 0.14 + 0.014 + 0.042
    "api-docs.deepseek.com/news/news250929 (V3.2: $0.28 miss, $0.028 hit, $0.42 output)",
  ],
  // ---- Claude Sonnet 4 above 200k input: docs.anthropic.com pricing#long-context-pricing ($6 / $22.50)
  [
    "Anthropic Sonnet 4, 300k input",
    "anthropic",
    "claude-sonnet-4-20250514",
    { input_tokens: 300_000, output_tokens: 1000 },
    "2026-11-22T10:00:00Z",
    "1.8225", // 300000×6 + 1000×22.5
    "docs.anthropic.com/en/docs/about-claude/pricing#long-context-pricing",
  ],
  [
    "Anthropic Sonnet 4, exactly 200k input stays at the base price",
    "anthropic",
    "claude-sonnet-4-20250514",
    { input_tokens: 200_000, output_tokens: 1000 },
    "2026-11-22T10:00:00Z",
    "0.615", // 200000×3 + 1000×15 (the tier applies above 200k)
    "docs.anthropic.com/en/docs/about-claude/pricing#long-context-pricing",
  ],
  [
    "Anthropic Sonnet 4, long prompt mostly cached",
    "anthropic",
    "claude-sonnet-4-20250514",
    { input_tokens: 400_000, cache_read_tokens: 300_000, cache_write_tokens: 50_000, output_tokens: 2000 },
    "2026-11-22T10:00:00Z",
    "0.9", // 50000×6 + 300000×0.6 + 50000×7.5 + 2000×22.5 = 0.3 + 0.18 + 0.375 + 0.045
    "docs.anthropic.com/en/docs/about-claude/pricing#long-context-pricing (cache prices ×2 above 200k)",
  ],
  [
    "Vertex Sonnet 4, 300k input",
    "google",
    "claude-sonnet-4@20250514",
    { input_tokens: 300_000, output_tokens: 1000 },
    "2026-11-22T10:00:00Z",
    "1.8225", // 300000×6 + 1000×22.5
    "cloud.google.com/vertex-ai/generative-ai/pricing#claude-models",
  ],
  [
    "Bedrock Sonnet 4 (us. profile), 300k input",
    "bedrock",
    "us.anthropic.claude-sonnet-4-20250514-v1:0",
    { input_tokens: 300_000, output_tokens: 1000 },
    "2026-11-22T10:00:00Z",
    "1.8225", // 300000×6 + 1000×22.5
    "aws.amazon.com/bedrock/pricing (Claude Sonnet 4 long context)",
  ],
  [
    "Bedrock Sonnet 4 (global), 250k input",
    "aws",
    "global.anthropic.claude-sonnet-4-20250514-v1:0",
    { input_tokens: 250_000, output_tokens: 10_000 },
    "2026-11-22T10:00:00Z",
    "1.725", // 250000×6 + 10000×22.5
    "aws.amazon.com/bedrock/pricing (Claude Sonnet 4 long context)",
  ],
  // ---- Bedrock Sonnet 4.5 tier: aws.amazon.com/bedrock/pricing (regional = global + 10 %)
  [
    "Bedrock Sonnet 4.5 global, 300k input",
    "aws",
    "global.anthropic.claude-sonnet-4-5-20250929-v1:0",
    { input_tokens: 300_000, output_tokens: 1000 },
    "2026-11-22T10:00:00Z",
    "1.8225", // 300000×6 + 1000×22.5
    "aws.amazon.com/bedrock/pricing (Claude Sonnet 4.5 global, > 200K)",
  ],
  [
    "Bedrock Sonnet 4.5 regional (us.), 300k input",
    "aws",
    "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
    { input_tokens: 300_000, output_tokens: 1000 },
    "2026-11-22T10:00:00Z",
    "2.00475", // 300000×6.6 + 1000×24.75
    "aws.amazon.com/bedrock/pricing (Claude Sonnet 4.5 regional, > 200K)",
  ],
  [
    "Bedrock Sonnet 4.5 regional below the tier",
    "aws",
    "eu.anthropic.claude-sonnet-4-5-20250929-v1:0",
    { input_tokens: 100_000, output_tokens: 1000 },
    "2026-11-22T10:00:00Z",
    "0.3465", // 100000×3.3 + 1000×16.5
    "aws.amazon.com/bedrock/pricing (Claude Sonnet 4.5 regional)",
  ],
  // ---- 1-hour cache writes on Bedrock and Vertex: 2× base input (aws.amazon.com/bedrock/pricing, cloud.google.com/vertex-ai pricing)
  [
    "Bedrock Sonnet 4 global, 1-hour cache write",
    "aws",
    "global.anthropic.claude-sonnet-4-20250514-v1:0",
    cacheMix,
    "2026-11-22T10:00:00Z",
    "0.0555", // 2000×3 + 8000×6 + 100×15 (was 8000×3.75: 0.0375)
    "aws.amazon.com/bedrock/pricing (1h cache write $6/M for Sonnet 4)",
  ],
  [
    "Bedrock Sonnet 4.5 regional, 1-hour cache write",
    "aws",
    "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
    cacheMix,
    "2026-11-22T10:00:00Z",
    "0.06105", // 2000×3.3 + 8000×6.6 + 100×16.5
    "aws.amazon.com/bedrock/pricing (1h cache write 2× input, regional)",
  ],
  [
    "Bedrock Haiku 4.5 regional, 1-hour cache write (derived 2× input)",
    "aws",
    "us.anthropic.claude-haiku-4-5-20251001-v1:0",
    cacheMix,
    "2026-11-22T10:00:00Z",
    "0.02035", // 2000×1.1 + 8000×2.2 + 100×5.5
    "aws.amazon.com/bedrock/pricing (1h cache write 2× input)",
  ],
  [
    "Vertex Sonnet 4.5, 1-hour cache write",
    "google",
    "claude-sonnet-4-5@20250929",
    cacheMix,
    "2026-11-22T10:00:00Z",
    "0.0555", // 2000×3 + 8000×6 + 100×15
    "cloud.google.com/vertex-ai/generative-ai/pricing#claude-models (1h cache write $6/M)",
  ],
  [
    "Vertex Sonnet 4.5, 1-hour cache write above 200k (tiered 2×)",
    "google",
    "claude-sonnet-4-5@20250929",
    { input_tokens: 300_000, cache_write_tokens: 100_000, cache_write_1h_tokens: 100_000, output_tokens: 1000 },
    "2026-11-22T10:00:00Z",
    "2.4225", // 200000×6 + 100000×12 + 1000×22.5
    "cloud.google.com/vertex-ai/generative-ai/pricing#claude-models (1h write $12/M above 200K)",
  ],
  [
    "Vertex Sonnet 4, 1-hour cache write",
    "google",
    "claude-sonnet-4@20250514",
    cacheMix,
    "2026-11-22T10:00:00Z",
    "0.0555", // 2000×3 + 8000×6 + 100×15
    "cloud.google.com/vertex-ai/generative-ai/pricing#claude-models",
  ],
  // ---- Titan Embeddings V2: aws.amazon.com/bedrock/pricing ($0.00002 per 1,000 tokens); v1 stays $0.0001
  [
    "Titan Text Embeddings V2",
    "aws",
    "amazon.titan-embed-text-v2:0",
    { input_tokens: 1_000_000 },
    "2026-11-22T10:00:00Z",
    "0.02",
    "aws.amazon.com/bedrock/pricing",
  ],
  [
    "Titan Text Embeddings V1 keeps its price",
    "aws",
    "amazon.titan-embed-text-v1",
    { input_tokens: 1_000_000 },
    "2026-11-22T10:00:00Z",
    "0.1",
    "aws.amazon.com/bedrock/pricing",
  ],
];

describe("shipped price corrections, hand-worked", () => {
  it("every correction in the file names a source", () => {
    for (const c of shippedOverlay().file.corrections) expect(c.source, c.id).toMatch(/https:\/\//);
    for (const m of shippedOverlay().file.models) expect(m.source, m.id).toMatch(/https:\/\//);
  });

  it.each(cases)("%s", (_label, provider, model, usage, at, expected, source) => {
    expect(source).not.toBe("");
    const r = price({ provider, model, usage, at: new Date(at) });
    expect(r.priced).toBe(true);
    if (!r.priced) return;
    expect(r.costUsd).toBe(new Decimal(expected).toFixed());
    expect(r.components.reduce((s, c) => s.plus(c.amount_usd), new Decimal(0)).toFixed()).toBe(r.costUsd);
  });

  it("names the overlay as the price source, with the library version it corrects", () => {
    const r = price({ provider: "deepseek", model: "deepseek-chat", usage: { input_tokens: 1 }, at: new Date("2026-12-01T17:00:00Z") });
    expect(r).toMatchObject({ source: "overlay", version: expect.stringMatching(/^2026-12-01\.1\+genai-prices@\d+\.\d+\.\d+$/) });
    const untouched = price({ provider: "openai", model: "gpt-4o", usage: { input_tokens: 1 }, at: new Date("2026-12-01T17:00:00Z") });
    expect(untouched.source).toBe("genai-prices");
  });

  it("a configured price still beats the overlay", () => {
    const own = loadConfig({}).pricing;
    own.models.push({ provider: "deepseek", model: "deepseek-chat", from: new Date(0), prices: { input_mtok: "1", output_mtok: "2" } });
    const r = createLlmPricer(own)({ provider: "deepseek", model: "deepseek-chat", usage: { input_tokens: 1_000_000 }, at: new Date() });
    expect(r).toMatchObject({ priced: true, costUsd: "1", source: "config" });
  });

  it("refuses an overlay entry without a source or with an unknown price key", () => {
    const entry = { id: "x", provider: "openai", models: ["gpt-4o"], mode: "patch", from: "2026-01-01", prices: { input_mtok: "1" } };
    expect(() => parseOverlay({ version: "1", corrections: [entry] })).toThrow(ConfigError);
    expect(() =>
      parseOverlay({ version: "1", corrections: [{ ...entry, source: "https://x.test/p", prices: { inptu_mtok: "1" } }] }),
    ).toThrow(/inptu_mtok/);
  });
});

describe("provider inference", () => {
  const at = new Date("2026-11-22T10:00:00Z");
  const usage = { input_tokens: 10_000, output_tokens: 2000 };

  it("takes the provider from a provider/model id", () => {
    // 10000×0.15 + 2000×0.60 per 1M (platform.openai.com/docs/pricing, gpt-4o-mini)
    expect(price({ provider: "", model: "openai/gpt-4o-mini", usage, at })).toMatchObject({
      priced: true,
      costUsd: "0.0027",
      provider: "openai",
      model: "gpt-4o-mini",
    });
  });

  it("finds the one provider that prices a bare id", () => {
    // 10000×3 + 2000×15 per 1M (Anthropic, Sonnet 4)
    expect(price({ provider: "", model: "claude-sonnet-4-20250514", usage, at })).toMatchObject({
      priced: true,
      costUsd: "0.06",
      provider: "anthropic",
    });
  });

  it("reports an unknown provider instead of pricing another provider's model", () => {
    expect(price({ provider: "nosuchprov", model: "gpt-4o", usage, at })).toMatchObject({
      priced: false,
      reason: "unknown_provider",
      provider: "nosuchprov",
      model: "gpt-4o",
    });
    expect(price({ provider: "nosuchprov", model: "openai/gpt-4o", usage, at })).toMatchObject({
      priced: false,
      reason: "unknown_provider",
    });
  });

  it("keeps configured providers and library aliases known", () => {
    const own = loadConfig({}).pricing;
    own.models.push({ provider: "acme-ai", model: "house-7", from: new Date(0), prices: { input_mtok: "1" } });
    expect(createLlmPricer(own)({ provider: "acme-ai", model: "house-7", usage: { input_tokens: 1_000_000 }, at })).toMatchObject({
      costUsd: "1",
    });
    expect(price({ provider: "bedrock", model: "amazon.nova-micro-v1:0", usage, at })).toMatchObject({ priced: true, provider: "aws" });
    expect(price({ provider: "vertex", model: "gemini-2.5-flash", usage, at })).toMatchObject({ priced: true, provider: "google" });
  });

  it("an event under an unknown provider is stored unpriced under the provider it sent", () => {
    const toPriced = createEventPricer(config);
    const e = toPriced(
      costlineEvent.parse({
        specversion: "1.0",
        id: "p1",
        source: "s",
        type: "costline.llm.usage",
        time: at.toISOString(),
        data: { tenant: "t", provider: "nosuchprov", model: "gpt-4o", usage },
      }),
      at,
    );
    expect(e).toMatchObject({ priced: false, cost_usd: null, provider: "nosuchprov", model: "gpt-4o", unpriced_reason: "unknown_model" });
  });
});
