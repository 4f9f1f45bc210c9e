// Health aggregation (the worst check wins) and the bounded metric labels.
import { describe, expect, it } from "vitest";
import { aggregate, statusValue } from "../../pipeline/health/health-status.ts";
import { boundedLabel } from "../../pipeline/observability/metrics.ts";

describe("health aggregation", () => {
  it("is the worst of its checks", () => {
    const c = (name: string, status: "healthy" | "degraded" | "unhealthy") => ({ name, status, detail: "" });
    expect(aggregate([c("a", "healthy"), c("b", "healthy")]).status).toBe("healthy");
    expect(aggregate([c("a", "healthy"), c("b", "degraded")]).status).toBe("degraded");
    expect(aggregate([c("a", "unhealthy"), c("b", "degraded")]).status).toBe("unhealthy");
    expect(aggregate([]).status).toBe("healthy");
    expect(["healthy", "degraded", "unhealthy"].map((s) => statusValue(s as "healthy"))).toEqual([0, 1, 2]);
  });
});

describe("bounded labels", () => {
  it("keeps the first N values and folds the rest into other", () => {
    const label = boundedLabel(2);
    expect(["a", "b", "c", "a", "d", "b"].map(label)).toEqual(["a", "b", "other", "a", "other", "b"]);
  });
});
