// Event factories for tests: pre-priced `costline.cost` events with amounts
// whose exact decimal sum the test computes independently.
import type { CostlineEventInput, PricedEvent } from "../../schemas/index.ts";
import { Decimal } from "../../pipeline/pricing/decimal.ts";

export const tenants = ["acme", "globex", "initech", "umbrella corp/é"];

export function costEvent(i: number, tenant: string, amount: string, source = "test/exactness"): CostlineEventInput {
  return {
    specversion: "1.0",
    id: `evt-${i}`,
    source,
    type: "costline.cost",
    time: new Date(Date.UTC(2026, 10, 22, 10, 0, 0) + i * 37).toISOString(),
    data: { tenant, amount, currency: "USD", category: "gpu", post_id: `p-${i % 97}` },
  };
}

/** Amount with micro-dollar digits, deterministic in i. */
export function amountFor(i: number): string {
  return new Decimal((i * 7919) % 1_000_003)
    .dividedBy(1_000_000)
    .plus(i % 5)
    .toFixed(6);
}

export function expectedTotals(events: CostlineEventInput[]): Map<string, { events: number; cost: string }> {
  const by = new Map<string, { events: number; cost: Decimal }>();
  for (const e of events) {
    const d = e.data as { tenant: string; amount: string };
    const cur = by.get(d.tenant) ?? { events: 0, cost: new Decimal(0) };
    cur.events++;
    cur.cost = cur.cost.plus(d.amount);
    by.set(d.tenant, cur);
  }
  return new Map([...by].map(([t, v]) => [t, { events: v.events, cost: v.cost.toFixed() }]));
}

/** A priced `costline.cost` event as enrich publishes it, for tests that feed the ledger or the windower directly. */
export function pricedCost(o: {
  id: string;
  tenant: string;
  time: string;
  cost: string | null;
  source: string;
  enrichedAt?: string;
}): PricedEvent {
  return {
    event_id: o.id,
    source: o.source,
    type: "costline.cost",
    kind: "cost",
    time: o.time,
    tenant: o.tenant,
    provider: "",
    model: "",
    model_requested: "",
    category: "gpu",
    usage: {},
    batch: false,
    cost_usd: o.cost,
    revenue_usd: "0",
    priced: o.cost !== null,
    price_source: "producer",
    price_version: "",
    components: [],
    attribution_method: "unattributed",
    enriched_at: o.enrichedAt ?? o.time,
  };
}
