// What a call costs, for reservations: the estimate before it (the prompt's
// token count and the most it may write, priced like the ledger prices usage,
// or the caller's own figure) and the actual cost after it, from the usage
// extracted from the response. Also the model id the ledger will record, so a
// per-model budget is matched the way the ledger counts it.
import { createLlmPricer } from "../pricing/llm-price.ts";
import { pricingConfigSchema, type PricingConfig } from "../pricing/pricing-config.ts";

export interface CallEstimate {
  /** The caller's own estimate in USD (a decimal string); wins over the token counts. */
  costUsd?: string;
  /** Tokens in the prompt (count them with the provider's tokenizer). */
  inputTokens?: number;
  /** The most the call may write (its max_tokens): the estimate is an upper bound only with it. */
  outputTokens?: number;
}

export type CallPricer = ReturnType<typeof createCallPricer>;

export function createCallPricer(pricing: PricingConfig = pricingConfigSchema.parse({})) {
  const price = createLlmPricer(pricing);
  return {
    /** The estimated cost, or undefined when the model has no known price and no estimate was given. */
    estimate(provider: string, model: string, tenant: string, e: CallEstimate): string | undefined {
      if (e.costUsd !== undefined) return e.costUsd;
      const r = price({
        provider,
        model,
        tenant,
        at: new Date(),
        usage: { input_tokens: e.inputTokens ?? 0, output_tokens: e.outputTokens ?? 0 },
      });
      return r.priced ? r.costUsd : undefined;
    },
    actual(provider: string, model: string, tenant: string, usage: Record<string, number>): string | undefined {
      const r = price({ provider, model, tenant, at: new Date(), usage });
      return r.priced ? r.costUsd : undefined;
    },
    /** The model id the ledger records for this model (the price catalogue's id when it knows the model). */
    ledgerModel(provider: string, model: string): string {
      return price({ provider, model, at: new Date(), usage: {} }).model;
    },
  };
}
