import { describe, expect, it } from "vitest";
import { createBreakers, guardedCall, GuardDeniedError, CircuitOpenError } from "../../pipeline/guard/guarded-call.ts";
import { createControlCache } from "../../pipeline/guard/decide.ts";
import type { CostlineEventInput } from "../../schemas/index.ts";

function setup() {
  const cache = createControlCache();
  const published: CostlineEventInput[] = [];
  const producer = { publish: async (e: CostlineEventInput | CostlineEventInput[]) => (published.push(...(Array.isArray(e) ? e : [e])), []) };
  return { cache, published, producer, breakers: createBreakers({ consecutiveFailures: 2, recoveryMs: 60_000 }) };
}
const openaiResponse = (model: string) => ({ model, usage: { prompt_tokens: 1000, completion_tokens: 500, prompt_tokens_details: { cached_tokens: 200 } } });

describe("guardedCall", () => {
  it("calls with the guard's model and publishes the usage extracted from the response", async () => {
    const { cache, published, producer, breakers } = setup();
    cache.put({ scope: { tenant: "acme" }, state: "degraded", model_map: { "gpt-4o": "gpt-4o-mini" }, reason: "cost review", set_by: "operator:x", set_at: new Date().toISOString(), probe_every_s: 30 });
    let calledWith = "";
    await guardedCall({
      guard: cache, producer, breakers, provider: "openai", apiFlavor: "chat", model: "gpt-4o", source: "svc/test",
      attribution: { tenant: "acme", persona_id: "ai_jesus", post_id: "p-1" },
      call: async (model) => {
        calledWith = model;
        return openaiResponse(`${model}-2024-07-18`);
      },
    });
    expect(calledWith).toBe("gpt-4o-mini");
    expect(published).toHaveLength(1);
    expect(published[0]).toMatchObject({ type: "costline.llm.usage", data: { tenant: "acme", post_id: "p-1", model: "gpt-4o-mini-2024-07-18", usage: { input_tokens: 1000, cache_read_tokens: 200, output_tokens: 500 } } });
  });

  it("refuses when the guard says no, and opens the circuit after failures", async () => {
    const { cache, producer, breakers } = setup();
    cache.put({ scope: { tenant: "paused" }, state: "open", paused_until: new Date(Date.now() + 60_000).toISOString(), reason: "budget", set_by: "detector:x", set_at: new Date().toISOString(), probe_every_s: 30 });
    const base = { guard: cache, producer, breakers, provider: "openai", apiFlavor: "chat", model: "gpt-4o", source: "svc/test" };
    await expect(guardedCall({ ...base, attribution: { tenant: "paused" }, call: async () => openaiResponse("gpt-4o") })).rejects.toBeInstanceOf(GuardDeniedError);
    const failing = { ...base, attribution: { tenant: "acme" }, call: async () => { throw new Error("503"); } };
    await expect(guardedCall(failing)).rejects.toThrow("503");
    await expect(guardedCall(failing)).rejects.toThrow("503");
    await expect(guardedCall(failing)).rejects.toBeInstanceOf(CircuitOpenError);
  });
});
