// `costline price`: price one LLM call offline with the configured prices and
// print the result as JSON.
//
//   npx costline price --provider anthropic --model claude-sonnet-4-20250514 \
//     --input-tokens 4740 --cache-write-tokens 4735 --output-tokens 255
//   npx costline price --model openai/gpt-4o-mini --input-tokens 1000 --output-tokens 500
// Without --provider the provider is inferred; an unknown --provider is an error.
import type { Config } from "../config/config.ts";
import { CostlineError } from "../errors.ts";
import { createLlmPricer } from "../pricing/llm-price.ts";

export interface PriceOptions {
  provider?: string;
  model: string;
  inputTokens: number;
  outputTokens: number;
  cacheReadTokens?: number;
  cacheWriteTokens?: number;
  batch?: boolean;
  tenant?: string;
  at?: string;
}

export function runPrice(config: Config, o: PriceOptions): void {
  const at = o.at ? new Date(o.at) : new Date();
  if (Number.isNaN(at.getTime())) throw new CostlineError(`--at: "${o.at}" is not an ISO time`);
  const usage: Record<string, number> = { input_tokens: o.inputTokens, output_tokens: o.outputTokens };
  if (o.cacheReadTokens !== undefined) usage.cache_read_tokens = o.cacheReadTokens;
  if (o.cacheWriteTokens !== undefined) usage.cache_write_tokens = o.cacheWriteTokens;
  const r = createLlmPricer(config.pricing)({ provider: o.provider ?? "", model: o.model, usage, at, tenant: o.tenant, batch: o.batch });
  if (!r.priced && r.reason === "unknown_provider")
    throw new CostlineError(
      `unknown provider "${o.provider}": neither the bundled price data nor the configuration prices it (try openai, anthropic, google, aws, azure, …)`,
    );
  const out = r.priced
    ? { cost_usd: r.costUsd, priced: true, provider: r.provider, model: r.model, components: r.components }
    : { cost_usd: null, priced: false, reason: r.reason, provider: r.provider, model: r.model, components: [] };
  process.stdout.write(
    `${JSON.stringify({ ...out, at: at.toISOString(), tenant: o.tenant ?? null, batch: Boolean(o.batch), price_source: r.source, price_version: r.version })}\n`,
  );
}
