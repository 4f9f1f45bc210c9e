// A final window aggregate of tenant "acme", as the windower publishes it, for
// tests of what consumes windows (budgets, detectors). Each call is emitted a
// millisecond after the previous one, so redelivery checks see them as new.
import type { WindowAggregate } from "../../schemas/index.ts";

let seq = 0;

export function tenantWindow(p: Partial<WindowAggregate> & { start: string; cost: string }, seconds = 60): WindowAggregate {
  const start = new Date(p.start);
  return {
    scope: "tenant",
    key: { tenant: "acme" },
    tenant: "acme",
    events: 1,
    unpriced_events: 0,
    revenue_usd: "0",
    input_tokens: 0,
    output_tokens: 0,
    requests: 1,
    by_model: {},
    by_operation: {},
    top_posts: {},
    top_users: {},
    final: true,
    emitted_at: new Date(start.getTime() + seconds * 1000 + seq++).toISOString(),
    ...p,
    cost_usd: p.cost,
    window_start: start.toISOString(),
    window_end: new Date(start.getTime() + seconds * 1000).toISOString(),
  };
}
