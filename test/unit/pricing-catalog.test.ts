// Our decimal arithmetic must agree with @pydantic/genai-prices' own float
// totals for every model it bundles: if the library changes its units or
// decomposition, this fails before a wrong price reaches the ledger.
import { calcPrice, findProvider } from "@pydantic/genai-prices";
import { describe, expect, it } from "vitest";
import { priceAt } from "../../pipeline/pricing/model-resolution.ts";
import { priceUsage } from "../../pipeline/pricing/price-plan.ts";

const providers = [
  "openai",
  "anthropic",
  "google",
  "aws",
  "azure",
  "mistral",
  "groq",
  "deepseek",
  "x-ai",
  "cohere",
  "together",
  "openrouter",
];
const usages: Record<string, number>[] = [
  { input_tokens: 1000, output_tokens: 500 },
  { input_tokens: 250_000, cache_read_tokens: 100_000, cache_write_tokens: 20_000, output_tokens: 4000 },
  { input_tokens: 3_000_000, cache_read_tokens: 1_500_000, output_tokens: 70_000 },
];
const at = new Date("2026-11-22T10:00:00Z");

describe("decimal pricing agrees with genai-prices on the whole catalog", () => {
  for (const providerId of providers) {
    it(`${providerId}`, () => {
      const provider = findProvider({ providerId })!;
      expect(provider.models.length).toBeGreaterThan(0);
      let compared = 0;
      for (const model of provider.models) {
        for (const usage of usages) {
          let lib;
          try {
            lib = calcPrice(usage, model.id, { provider, timestamp: at });
          } catch {
            continue; // the library itself refuses this usage for this model (e.g. no cache prices)
          }
          if (!lib || lib.model.id !== model.id) continue;
          const ours = priceUsage(usage, priceAt(model, at));
          expect(Math.abs(Number(ours.costUsd) - lib.total_price), `${providerId}/${model.id}`).toBeLessThanOrEqual(
            1e-9 * Math.max(1, lib.total_price),
          );
          compared++;
        }
      }
      expect(compared).toBeGreaterThan(0);
    });
  }
});
