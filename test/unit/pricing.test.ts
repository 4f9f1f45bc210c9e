// Hand-worked prices from the providers' published price pages, exact to the
// last decimal: per-million-token rates × tokens.
import { describe, expect, it } from "vitest";
import { createLlmPricer } from "../../pipeline/pricing/llm-price.ts";
import { createEventPricer } from "../../pipeline/pricing/price-event.ts";
import { loadConfig } from "../../pipeline/config/config.ts";
import { costlineEvent } from "../../schemas/index.ts";

const price = createLlmPricer();
const at = new Date("2026-11-22T10:00:00Z");

describe("LLM prices", () => {
  it.each([
    // gpt-4o: $2.50 in, $1.25 cached in, $10 out per 1M → 800×2.5 + 200×1.25 + 500×10 = 7250 µ$ / 1000
    ["openai", "gpt-4o-2024-08-06", { input_tokens: 1000, cache_read_tokens: 200, output_tokens: 500 }, "0.00725", "gpt-4o"],
    // gpt-4o-mini: $0.15 in, $0.60 out → 1e6×0.15/1e6 + 1e6×0.6/1e6
    ["openai", "gpt-4o-mini", { input_tokens: 1_000_000, output_tokens: 1_000_000 }, "0.75", "gpt-4o-mini"],
    // provider/model prefix
    ["openai", "openai/gpt-4o", { input_tokens: 1000, output_tokens: 0 }, "0.0025", "gpt-4o"],
    // Claude Sonnet 4: $3 in, $3.75 cache write, $15 out → 5×3 + 4735×3.75 + 255×15 = 21596.25 / 1e6
    ["anthropic", "claude-sonnet-4-20250514", { input_tokens: 4740, cache_write_tokens: 4735, output_tokens: 255 }, "0.02159625", "claude-sonnet-4-0"],
    // Gemini 2.5 Flash: $0.30 in, $2.50 out
    ["google", "gemini-2.5-flash", { input_tokens: 10_000, output_tokens: 1000 }, "0.0055", "gemini-2.5-flash"],
  ] as const)("%s %s", (provider, model, usage, cost, resolved) => {
    const r = price(provider, model, { ...usage }, at);
    expect(r).toMatchObject({ priced: true, costUsd: cost, model: resolved });
  });

  it("leaves an unknown model unpriced instead of $0", () => {
    expect(price("acme-ai", "house-model-7", { input_tokens: 10 }, at)).toEqual({
      priced: false,
      reason: "unknown_model",
      provider: "acme-ai",
      model: "house-model-7",
    });
  });

  it("refuses usage whose parts exceed the whole", () => {
    expect(() => price("openai", "gpt-4o", { input_tokens: 10, cache_read_tokens: 50 }, at)).toThrow(/inconsistent/);
  });
});

describe("event pricing", () => {
  const toPriced = createEventPricer(loadConfig({}).rateCards);
  const parse = (e: unknown) => costlineEvent.parse(e);
  const base = { specversion: "1.0", id: "x", source: "s", time: "2026-11-22T10:00:00Z" };

  it("takes pre-priced amounts as given, as decimals", () => {
    const e = toPriced(parse({ ...base, type: "costline.cost", data: { tenant: "t", amount: "0.000001", currency: "USD", category: "gpu" } }), at);
    expect(e).toMatchObject({ cost_usd: "0.000001", priced: true, kind: "cost", attribution_method: "unattributed" });
  });

  it("prices infra usage from the rate card", () => {
    const e = toPriced(
      parse({ ...base, type: "costline.infra.usage", data: { tenant: "t", resource: "cpu", quantity: 3600, unit: "core_second", service: "api" } }),
      at,
    );
    expect(e.cost_usd).toBe("0.0414"); // 3600 × 0.0000115
  });

  it("records revenue apart from cost", () => {
    const e = toPriced(parse({ ...base, type: "costline.revenue", data: { tenant: "t", post_id: "p", amount: "4.99", currency: "USD" } }), at);
    expect(e).toMatchObject({ cost_usd: "0", revenue_usd: "4.99", attribution_method: "direct" });
  });

  it("flags, not drops, an amount in a currency it cannot convert", () => {
    const e = toPriced(parse({ ...base, type: "costline.cost", data: { tenant: "t", amount: "1", currency: "EUR", category: "x" } }), at);
    expect(e).toMatchObject({ cost_usd: null, priced: false, unpriced_reason: "currency_not_supported:EUR" });
  });
});
