// The cost-per-post detector: a post's final windows add up, it alerts once
// the post costs the configured multiple of its target, and a post idle for
// a day (in event time) is forgotten, so new posts do not grow the detector.
import { describe, expect, it } from "vitest";
import { createDetector } from "../../pipeline/detect/detector.ts";
import { POST_IDLE_MS } from "../../pipeline/detect/engine.ts";
import type { WindowAggregate } from "../../schemas/index.ts";

const T0 = Date.UTC(2026, 10, 22, 10, 0, 0);

function postWindow(post: string, at: number, cost: string): WindowAggregate {
  return {
    scope: "post",
    key: { tenant: "acme", post_id: post },
    tenant: "acme",
    window_start: new Date(at).toISOString(),
    window_end: new Date(at + 60_000).toISOString(),
    events: 1,
    unpriced_events: 0,
    cost_usd: cost,
    revenue_usd: "0",
    input_tokens: 10,
    output_tokens: 5,
    requests: 1,
    by_model: {},
    by_operation: {},
    top_posts: {},
    top_users: {},
    final: true,
    emitted_at: new Date(at + 60_000).toISOString(),
  };
}

describe("cost per post", () => {
  it("adds a post's windows up and alerts at twice the target, once", () => {
    const d = createDetector();
    expect(d.process(postWindow("p1", T0, "0.06"))).toEqual([]);
    const [a] = d.process(postWindow("p1", T0 + 60_000, "0.05"));
    expect(a).toMatchObject({ type: "cost_per_post", status: "firing", severity: "medium", scope: "post", observed: "0.11" });
    expect(a!.message).toBe("this post cost $0.11, 2.2× its target of $0.05");
    expect(d.process(postWindow("p1", T0 + 120_000, "0.01"))).toEqual([]); // still firing: not repeated
  });

  it("forgets a post idle for a day, and its firing alert with it", () => {
    const d = createDetector();
    d.process(postWindow("old", T0, "0.2"));
    for (let i = 0; i < 1000; i++) d.process(postWindow(`p${i}`, T0 + i * 1000, "0.001"));
    expect(d.engine.seriesCount()).toBe(1001);
    // A day later, one new post's window: everything older than a day goes.
    d.process(postWindow("new", T0 + POST_IDLE_MS + 1000 * 1000, "0.001"));
    expect(d.engine.seriesCount()).toBe(1);
    // The forgotten post, seen again, counts from zero: its old total and alert are gone.
    expect(d.process(postWindow("old", T0 + POST_IDLE_MS + 1000 * 1000, "0.01"))).toEqual([]);
    expect(d.process(postWindow("old", T0 + POST_IDLE_MS + 1001 * 1000, "0.2"))[0]).toMatchObject({
      type: "cost_per_post",
      observed: "0.21",
    });
  });
});
