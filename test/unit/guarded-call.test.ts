import { describe, expect, it } from "vitest";
import {
  createBreakers,
  guardedCall,
  guardedCallResult,
  GuardDeniedError,
  CircuitOpenError,
  BudgetExhaustedError,
} from "../../pipeline/guard/guarded-call.ts";
import type { ReservationScope } from "../../pipeline/guard/budget-reservations.ts";
import { createControlCache } from "../../pipeline/guard/decide.ts";
import type { CostlineEventInput } from "../../schemas/index.ts";

function setup() {
  const cache = createControlCache();
  const published: CostlineEventInput[] = [];
  const producer = {
    publish: async (e: CostlineEventInput | CostlineEventInput[]) => (published.push(...(Array.isArray(e) ? e : [e])), []),
  };
  return { cache, published, producer, breakers: createBreakers({ consecutiveFailures: 2, recoveryMs: 60_000 }) };
}
const openaiResponse = (model: string) => ({
  model,
  usage: { prompt_tokens: 1000, completion_tokens: 500, prompt_tokens_details: { cached_tokens: 200 } },
});

describe("guardedCall", () => {
  it("calls with the guard's model and publishes the usage extracted from the response", async () => {
    const { cache, published, producer, breakers } = setup();
    cache.put({
      scope: { tenant: "acme" },
      state: "degraded",
      model_map: { "gpt-4o": "gpt-4o-mini" },
      reason: "cost review",
      set_by: "operator:x",
      set_at: new Date().toISOString(),
      probe_every_s: 30,
    });
    let calledWith = "";
    await guardedCall({
      guard: cache,
      producer,
      breakers,
      provider: "openai",
      apiFlavor: "chat",
      model: "gpt-4o",
      source: "svc/test",
      attribution: { tenant: "acme", persona_id: "ai_jesus", post_id: "p-1" },
      call: async (model) => {
        calledWith = model;
        return openaiResponse(`${model}-2024-07-18`);
      },
    });
    expect(calledWith).toBe("gpt-4o-mini");
    expect(published).toHaveLength(1);
    expect(published[0]).toMatchObject({
      type: "costline.llm.usage",
      data: {
        tenant: "acme",
        post_id: "p-1",
        model: "gpt-4o-mini-2024-07-18",
        usage: { input_tokens: 1000, cache_read_tokens: 200, output_tokens: 500 },
      },
    });
  });

  it("refuses when the guard says no, and opens the circuit after failures", async () => {
    const { cache, producer, breakers } = setup();
    cache.put({
      scope: { tenant: "paused" },
      state: "open",
      paused_until: new Date(Date.now() + 60_000).toISOString(),
      reason: "budget",
      set_by: "detector:x",
      set_at: new Date().toISOString(),
      probe_every_s: 30,
    });
    const base = { guard: cache, producer, breakers, provider: "openai", apiFlavor: "chat", model: "gpt-4o", source: "svc/test" };
    await expect(
      guardedCall({ ...base, attribution: { tenant: "paused" }, call: async () => openaiResponse("gpt-4o") }),
    ).rejects.toBeInstanceOf(GuardDeniedError);
    const failing = {
      ...base,
      attribution: { tenant: "acme" },
      call: async () => {
        throw new Error("503");
      },
    };
    await expect(guardedCall(failing)).rejects.toThrow("503");
    await expect(guardedCall(failing)).rejects.toThrow("503");
    await expect(guardedCall(failing)).rejects.toBeInstanceOf(CircuitOpenError);
  });

  it("falls back to the next model when a call fails, and records the one that served it", async () => {
    const { cache, published, producer, breakers } = setup();
    const tried: string[] = [];
    const r = await guardedCallResult({
      guard: cache,
      producer,
      breakers,
      provider: "openai",
      apiFlavor: "chat",
      model: "gpt-4o",
      fallbackModels: ["gpt-4.1-mini"],
      source: "svc/test",
      attribution: { tenant: "acme" },
      call: async (model) => {
        tried.push(model);
        if (model === "gpt-4o") throw new Error("529 overloaded");
        return openaiResponse(model);
      },
    });
    expect(tried).toEqual(["gpt-4o", "gpt-4.1-mini"]);
    expect(r).toMatchObject({ model: "gpt-4.1-mini", requestedModel: "gpt-4o" });
    expect(published[0]).toMatchObject({ data: { model: "gpt-4.1-mini", requested_model: "gpt-4o" } });
  });

  it("holds the estimate on the model that will run, settles the actual cost, and releases a failed call", async () => {
    const { cache, producer, breakers } = setup();
    cache.put({
      scope: { tenant: "acme" },
      state: "degraded",
      model_map: { "gpt-4o": "gpt-4o-mini" },
      reason: "cost review",
      set_by: "operator:x",
      set_at: new Date().toISOString(),
      probe_every_s: 30,
    });
    const log: string[] = [];
    const reservations = {
      budgetsFor: () => ["acme.tenant.monthly"],
      reserve: async (s: ReservationScope, amount: string) => {
        log.push(`reserve ${s.model} ${amount}`);
        return {
          ok: true as const,
          reservation: {
            id: "r",
            amountUsd: amount,
            budgets: ["acme.tenant.monthly"],
            settle: async (a: { costUsd: string; model: string }) => void log.push(`settle ${a.model} ${a.costUsd}`),
            release: async () => void log.push("release"),
          },
        };
      },
    };
    const base = {
      guard: cache,
      producer,
      breakers,
      reservations,
      provider: "openai",
      apiFlavor: "chat",
      model: "gpt-4o",
      source: "svc/test",
      attribution: { tenant: "acme" },
      estimate: { inputTokens: 1000, outputTokens: 1000 },
    };
    await guardedCall({ ...base, call: async (model) => openaiResponse(model) });
    await expect(
      guardedCall({
        ...base,
        call: async () => {
          throw new Error("500");
        },
      }),
    ).rejects.toThrow("500");
    // 1000 × 0.15 + 1000 × 0.60 per 1M held; 800 × 0.15 + 200 × 0.075 + 500 × 0.60 per 1M spent.
    expect(log).toEqual(["reserve gpt-4o-mini 0.00075", "settle gpt-4o-mini 0.000435", "reserve gpt-4o-mini 0.00075", "release"]);
    const refused = {
      ...reservations,
      reserve: async () => ({ ok: false as const, reason: "hard budget spent", budgetKey: "acme.tenant.monthly", retryable: false }),
    };
    await expect(guardedCall({ ...base, reservations: refused, call: async (model) => openaiResponse(model) })).rejects.toBeInstanceOf(
      BudgetExhaustedError,
    );
  });

  it("checks a downgraded call against the controls of the model that will run", async () => {
    const { cache, producer, breakers } = setup();
    const at = new Date().toISOString();
    cache.put({
      scope: { tenant: "acme" },
      state: "degraded",
      model_map: { "gpt-4o": "gpt-4o-mini" },
      reason: "cost review",
      set_by: "operator:x",
      set_at: at,
      probe_every_s: 30,
    });
    cache.put({
      scope: { tenant: "acme", model: "gpt-4o-mini" },
      state: "open",
      paused_until: new Date(Date.now() + 60_000).toISOString(),
      reason: "gpt-4o-mini budget spent",
      set_by: "detector:x",
      set_at: at,
      probe_every_s: 30,
    });
    let called = false;
    const denied = guardedCall({
      guard: cache,
      producer,
      breakers,
      provider: "openai",
      apiFlavor: "chat",
      model: "gpt-4o",
      source: "svc/test",
      attribution: { tenant: "acme" },
      call: async (model) => ((called = true), openaiResponse(model)),
    });
    await expect(denied).rejects.toMatchObject({ decision: { state: "open", reason: "gpt-4o-mini budget spent" } });
    expect(called).toBe(false);
  });
});
