// `costline price`: price one LLM call offline and print it as JSON.
import { CostlineError } from "../errors.ts";
import { createLlmPricer, priceSource } from "../pricing/llm-price.ts";

export interface PriceOptions {
  provider: string;
  model: string;
  inputTokens: number;
  outputTokens: number;
  cacheReadTokens?: number;
  cacheWriteTokens?: number;
  at?: string;
}

export function runPrice(o: PriceOptions): void {
  const at = o.at ? new Date(o.at) : new Date();
  if (Number.isNaN(at.getTime())) throw new CostlineError(`--at: "${o.at}" is not an ISO time`);
  const usage: Record<string, number> = { input_tokens: o.inputTokens, output_tokens: o.outputTokens };
  if (o.cacheReadTokens !== undefined) usage.cache_read_tokens = o.cacheReadTokens;
  if (o.cacheWriteTokens !== undefined) usage.cache_write_tokens = o.cacheWriteTokens;
  const r = createLlmPricer()(o.provider, o.model, usage, at);
  const out = r.priced
    ? { cost_usd: r.costUsd, priced: true, provider: r.provider, model: r.model, components: r.components }
    : { cost_usd: null, priced: false, reason: r.reason, provider: r.provider, model: r.model, components: [] };
  process.stdout.write(`${JSON.stringify({ ...out, at: at.toISOString(), price_source: priceSource.name, price_version: priceSource.version })}\n`);
}
