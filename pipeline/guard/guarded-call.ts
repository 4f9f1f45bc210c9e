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
import type { CheckRequest, Decision } from "./decide.ts";
import type { BudgetReservations, Reservation } from "./budget-reservations.ts";
import { createCallPricer, type CallEstimate, type CallPricer } from "./call-cost.ts";

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

export class BudgetExhaustedError extends CostlineError {
  constructor(
    readonly budgetKey: string,
    readonly reason: string,
    /** True when asking again later may succeed (counters unreachable or not yet synced), false when the budget is spent. */
    readonly retryable: boolean,
  ) {
    super(`denied by the cost guard: ${reason}`);
  }
}

export interface GuardedCallOptions<R> {
  guard: { check(req: CheckRequest): Decision };
  producer: Pick<Producer, "publish">;
  breakers: ReturnType<typeof createBreakers>;
  provider: string;
  /** genai-prices' extractor flavour: "chat" or "responses" for OpenAI, "default" for Anthropic. */
  apiFlavor?: string;
  model: string;
  /** Models to try, in order, when the call with the model before fails (each is checked and reserved for on its own). */
  fallbackModels?: string[];
  attribution: Attribution;
  estimatedTokens?: number;
  /** With `reservations`: hold the call's estimated cost in every hard budget it falls under before calling. */
  reservations?: Pick<BudgetReservations, "reserve" | "budgetsFor">;
  estimate?: CallEstimate;
  pricer?: CallPricer;
  source: string;
  call: (model: string) => Promise<R>;
}

export interface GuardedCallResult<R> {
  response: R;
  /** The model that served the call, after fallbacks and downgrades (as the provider reported it). */
  model: string;
  requestedModel: string;
  eventId: string;
  /** The priced cost settled against the budgets (undefined: the model has no known price). */
  costUsd?: string;
}

let defaultPricer: CallPricer | undefined;

export async function guardedCall<R>(o: GuardedCallOptions<R>): Promise<R> {
  return (await guardedCallResult(o)).response;
}

/** guardedCall, also saying which model served the call and what it cost. */
export async function guardedCallResult<R>(o: GuardedCallOptions<R>): Promise<GuardedCallResult<R>> {
  const candidates = [o.model, ...(o.fallbackModels ?? [])];
  let lastError: unknown;
  for (const [i, asked] of candidates.entries()) {
    try {
      return await attempt(o, asked);
    } catch (err) {
      lastError = err;
      // A failed call falls back to the next model; the guard's refusals, an open circuit and a spent budget do not.
      const refused = err instanceof GuardDeniedError || err instanceof CircuitOpenError || err instanceof BudgetExhaustedError;
      if (refused || i === candidates.length - 1) throw err;
    }
  }
  throw lastError;
}

async function attempt<R>(o: GuardedCallOptions<R>, asked: string): Promise<GuardedCallResult<R>> {
  const tenant = o.attribution.tenant;
  const d = o.guard.check({
    tenant,
    persona: o.attribution.persona_id,
    feature: o.attribution.feature,
    user: o.attribution.user_id,
    model: asked,
    estimatedTokens: o.estimatedTokens,
  });
  if (!d.allow) throw new GuardDeniedError(d);
  // A downgraded call is also checked against the controls of the model that will run (a paused gpt-4o-mini stays paused).
  if (d.model !== asked) {
    const ran = o.guard.check({
      tenant,
      persona: o.attribution.persona_id,
      feature: o.attribution.feature,
      user: o.attribution.user_id,
      model: d.model,
      estimatedTokens: o.estimatedTokens,
    });
    if (!ran.allow) throw new GuardDeniedError(ran);
  }
  const breaker = o.breakers(o.provider);
  const gate = breaker.allow();
  if (!gate.allowed) throw new CircuitOpenError(o.provider, gate.waitMs);
  const pricer = o.pricer ?? (defaultPricer ??= createCallPricer());

  // The hold goes on the budgets of the model that will run (the downgraded one when degraded).
  let reservation: Reservation | undefined;
  if (o.reservations) {
    const scope = {
      tenant,
      persona: o.attribution.persona_id,
      feature: o.attribution.feature,
      user: o.attribution.user_id,
      model: pricer.ledgerModel(o.provider, d.model),
    };
    if (o.reservations.budgetsFor(scope).length) {
      const estimate = pricer.estimate(o.provider, d.model, tenant, o.estimate ?? { inputTokens: o.estimatedTokens });
      if (estimate === undefined)
        throw new BudgetExhaustedError(
          "",
          `no price known for ${o.provider}/${d.model} and no estimate given: a hard budget cannot hold the call`,
          false,
        );
      const r = await o.reservations.reserve(scope, estimate);
      if (!r.ok) throw new BudgetExhaustedError(r.budgetKey, r.reason, r.retryable);
      reservation = r.reservation;
    }
  }

  const started = performance.now();
  let response: R;
  try {
    response = await o.call(d.model);
  } catch (err) {
    breaker.failure(err);
    await reservation?.release().catch(() => undefined);
    throw err;
  }
  breaker.success();
  const provider = findProvider({ providerId: o.provider });
  const extracted = provider ? extractUsage(provider, response, o.apiFlavor) : { model: d.model, usage: {} };
  const served = extracted.model ?? d.model;
  const usage = extracted.usage as Record<string, number>;
  const eventId = randomUUID();
  const costUsd = pricer.actual(o.provider, served, tenant, usage);
  // Settled before the usage event is published, so the ledger sync finds the settlement when the event lands.
  await reservation?.settle({ costUsd: costUsd ?? reservation.amountUsd, eventId, model: pricer.ledgerModel(o.provider, served) });
  await o.producer.publish({
    specversion: "1.0",
    id: eventId,
    source: o.source,
    type: "costline.llm.usage",
    time: new Date().toISOString(),
    data: {
      ...o.attribution,
      provider: o.provider,
      model: served,
      ...(served !== o.model ? { requested_model: o.model } : {}),
      usage,
      latency_ms: Math.round(performance.now() - started),
      status: "ok",
    },
  });
  return { response, model: served, requestedModel: o.model, eventId, costUsd };
}
