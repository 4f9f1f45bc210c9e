import { describe, expect, it } from "vitest";
import { decodeMessage } from "../../pipeline/enrich/decode.ts";
import { PermanentError } from "../../pipeline/errors.ts";

const limits = { maxMessageBytes: 10_000, maxBatchEvents: 3 };
const bytes = (v: unknown) => new TextEncoder().encode(typeof v === "string" ? v : JSON.stringify(v));
const llm = (usage: unknown, extra: Record<string, unknown> = {}) => ({
  specversion: "1.0",
  id: "e1",
  source: "svc/hooks",
  type: "costline.llm.usage",
  time: "2026-11-22T10:00:00.123Z",
  data: { tenant: "acme", provider: "openai", model: "gpt-4o", usage, ...extra },
});

function reasonOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (err instanceof PermanentError) return err.reason;
    throw err;
  }
  return "none";
}

describe("decodeMessage", () => {
  it("accepts the design's example event and fills defaults", () => {
    const [r] = decodeMessage(bytes(llm({ input_tokens: 1000, cache_read_tokens: 200, output_tokens: 500 })), limits);
    expect(r).toMatchObject({ ok: true, event: { type: "costline.llm.usage", data: { batch: false } } });
  });

  it("classifies whole-message failures", () => {
    expect(reasonOf(() => decodeMessage(bytes("{nope"), limits))).toBe("not_json");
    expect(reasonOf(() => decodeMessage(bytes("x".repeat(10_001)), limits))).toBe("oversized");
    expect(reasonOf(() => decodeMessage(bytes([1, 2, 3, 4]), limits))).toBe("oversized");
    expect(reasonOf(() => decodeMessage(bytes([]), limits))).toBe("validation");
  });

  it("tells invalid usage from other validation errors and unknown types", () => {
    const results = decodeMessage(
      bytes([llm({ input_tokens: -1 }), llm({ input_tokens: "many" }), { ...llm({}), type: "costline.llm.usages" }]),
      limits,
    );
    expect(results.map((r) => (r.ok ? "ok" : r.error.reason))).toEqual(["invalid_usage", "invalid_usage", "unknown_type"]);
    const [missingTenant] = decodeMessage(bytes({ ...llm({}), data: { provider: "openai", model: "m", usage: {} } }), limits);
    expect(missingTenant).toMatchObject({ ok: false, error: { reason: "validation" } });
  });

  it("validates each element of a batch on its own", () => {
    const results = decodeMessage(bytes([llm({ input_tokens: 1 }), { junk: true }]), limits);
    expect(results.map((r) => r.ok)).toEqual([true, false]);
  });

  it("rejects a tenant that is only white space and ids with spaces", () => {
    const [a] = decodeMessage(bytes({ ...llm({}), data: { ...llm({}).data, tenant: " acme" } }), limits);
    const [b] = decodeMessage(bytes({ ...llm({}), id: "has space" }), limits);
    expect(a!.ok).toBe(false);
    expect(b!.ok).toBe(false);
  });
});
