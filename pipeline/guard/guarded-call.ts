// Wraps an OpenAI- or Anthropic-style client call: asks the guard first (and
// uses the model it returns — the cheaper stand-in when degraded), keeps a
// per-provider circuit breaker, makes the call, extracts the usage from the
// response with genai-prices' extractors, and publishes the usage event.
//
//   const res = await guardedCall({
//     guard, producer, breakers, provider: "openai", apiFlavor: "chat", model: "gpt-4o",
//     attribution: { tenant: "acme", persona_id: "ai_jesus", post_id: "p-1", feature: "hooks" },
//     estimatedTokens: 1500, source: "svc/hooks",
//     call: (model) => openai.chat.completions.create({ model, messages }),
//   });
import { randomUUID } from "node:crypto";
import { extractUsage, findProvider } from "@pydantic/genai-prices";
import type { Attribution } from "../../schemas/index.ts";
import { CostlineError } from "../errors.ts";
import type { Producer } from "../producer/producer.ts";
import { createCircuitBreaker, type BreakerOptions, type CircuitBreaker } from "./circuit-breaker.ts";
import type { Decision } from "./decide.ts";
import type { Guard } from "./guard.ts";

export class GuardDeniedError extends CostlineError {
  constructor(readonly decision: Decision) {
    super(`denied by the cost guard (${decision.state}): ${decision.reason}; retry in ${decision.waitMs} ms`);
  }
}

export class CircuitOpenError extends CostlineError {
  constructor(
    readonly provider: string,
    readonly waitMs: number,
  ) {
    super(`the ${provider} circuit breaker is open; retry in ${waitMs} ms`);
  }
}

/** One breaker per provider, created on first use. */
export function createBreakers(opts: BreakerOptions = {}) {
  const breakers = new Map<string, CircuitBreaker>();
  return (provider: string): CircuitBreaker => {
    let b = breakers.get(provider);
    if (!b) breakers.set(provider, (b = createCircuitBreaker(opts)));
    return b;
  };
}

export interface GuardedCallOptions<R> {
  guard: Pick<Guard, "check">;
  producer: Pick<Producer, "publish">;
  breakers: ReturnType<typeof createBreakers>;
  provider: string;
  /** genai-prices' extractor flavour: "chat" or "responses" for OpenAI, "default" for Anthropic. */
  apiFlavor?: string;
  model: string;
  attribution: Attribution;
  estimatedTokens?: number;
  source: string;
  call: (model: string) => Promise<R>;
}

export async function guardedCall<R>(o: GuardedCallOptions<R>): Promise<R> {
  const d = o.guard.check({
    tenant: o.attribution.tenant,
    persona: o.attribution.persona_id,
    feature: o.attribution.feature,
    user: o.attribution.user_id,
    model: o.model,
    estimatedTokens: o.estimatedTokens,
  });
  if (!d.allow) throw new GuardDeniedError(d);
  const breaker = o.breakers(o.provider);
  const gate = breaker.allow();
  if (!gate.allowed) throw new CircuitOpenError(o.provider, gate.waitMs);
  const started = performance.now();
  let response: R;
  try {
    response = await o.call(d.model);
  } catch (err) {
    breaker.failure(err);
    throw err;
  }
  breaker.success();
  const provider = findProvider({ providerId: o.provider });
  const extracted = provider ? extractUsage(provider, response, o.apiFlavor) : { model: d.model, usage: {} };
  await o.producer.publish({
    specversion: "1.0",
    id: randomUUID(),
    source: o.source,
    type: "costline.llm.usage",
    time: new Date().toISOString(),
    data: {
      ...o.attribution,
      provider: o.provider,
      model: extracted.model ?? d.model,
      usage: extracted.usage as Record<string, number>,
      latency_ms: Math.round(performance.now() - started),
      status: "ok",
    },
  });
  return response;
}
