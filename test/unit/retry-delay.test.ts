import { describe, expect, it } from "vitest";
import { retryDelayMs } from "../../pipeline/runner/consumer-runner.ts";

describe("retryDelayMs", () => {
  it("grows with the delivery count, with jitter in [base/2, base]", () => {
    expect(retryDelayMs(1, () => 0)).toBe(125);
    expect(retryDelayMs(1, () => 1)).toBe(250);
    expect(retryDelayMs(4, () => 1)).toBe(2000);
  });
  it("is capped at 30 s", () => {
    expect(retryDelayMs(50, () => 1)).toBe(30_000);
  });
});
