// Turns a validated event into its priced, attributed ledger form. LLM usage
// is priced from genai-prices data, infra and vector-db usage from the rate
// cards in configuration, `costline.cost` amounts are taken as given.
import type { Config } from "../config/config.ts";
import { eventKinds, ledgerFieldsOf, type CostlineEvent, type PricedEvent, type PriceComponent } from "../../schemas/index.ts";
import { Decimal, toMoney } from "./decimal.ts";
import { inForce, type FxRate } from "./pricing-config.ts";
import { BELOW_MONEY_SCALE, subPicodollarCost } from "./amount-bounds.ts";
import { createLlmPricer, type CatalogPricedEntry } from "./llm-price.ts";
import { createRateCardPricer } from "./rate-cards.ts";

type Pricing = {
  cost: string | null;
  revenue?: string;
  reason?: string;
  source: string;
  version: string;
  components?: PriceComponent[];
  provider?: string;
  model?: string;
};

export interface EventPricerOptions {
  /** Prices from the catalog, ahead of the configured ones (a tie on `from` goes to them). */
  catalogModels?: CatalogPricedEntry[];
  /** Recorded on every priced event: which catalog version priced it. */
  catalogVersion?: string;
}

export function createEventPricer(config: Pick<Config, "pricing" | "rateCards">, options: EventPricerOptions = {}) {
  const pricing = options.catalogModels?.length
    ? { ...config.pricing, models: [...options.catalogModels, ...config.pricing.models] }
    : config.pricing;
  const priceLlm = createLlmPricer(pricing);
  const rates = createRateCardPricer(config.rateCards);

  const fxByCurrency = new Map<string, FxRate[]>();
  for (const r of config.pricing.fxRates ?? []) fxByCurrency.set(r.currency, [...(fxByCurrency.get(r.currency) ?? []), r]);
  /** An amount in another currency at the rate in force at `at`; the original amount and currency kept as a component. */
  function convert(amount: string, currency: string, at: Date) {
    const rate = inForce(fxByCurrency.get(currency.toUpperCase()) ?? [], at);
    if (!rate) return undefined;
    const usd = toMoney(new Decimal(amount).times(rate.usd_per_unit));
    const component: PriceComponent = {
      unit: `fx:${currency.toUpperCase()}`,
      quantity: amount,
      unit_price: rate.usd_per_unit,
      per: 1,
      amount_usd: usd,
    };
    return { usd, component, version: `fx:${currency.toUpperCase()}@${rate.from.toISOString().slice(0, 10)}` };
  }

  function price(event: CostlineEvent, at: Date): Pricing {
    switch (event.type) {
      case "costline.llm.usage": {
        const d = event.data;
        const r = priceLlm({
          provider: d.provider,
          model: d.model,
          usage: d.usage as Record<string, number>,
          at,
          tenant: d.tenant,
          batch: d.batch,
        });
        return r.priced
          ? { cost: r.costUsd, source: r.source, version: r.version, components: r.components, provider: r.provider, model: r.model }
          : // A provider nobody knows leaves the model unpriced, stored under the provider as sent, and raises the same
            // unpriced_model alert (enrich keys it on unknown_model); it is never priced as another provider's model.
            { cost: null, reason: "unknown_model", source: r.source, version: r.version, provider: r.provider, model: r.model };
      }
      case "costline.infra.usage": {
        const r = rates.infra(event.data.resource, event.data.unit, event.data.quantity, at);
        return r.priced
          ? { cost: r.costUsd, components: r.components, source: "rate-card", version: r.version }
          : { cost: null, reason: r.reason, source: "rate-card", version: "" };
      }
      case "costline.vectordb.usage": {
        const r = rates.vectordb(event.data.provider, event.data, at);
        return r.priced
          ? { cost: r.costUsd, components: r.components, source: "rate-card", version: r.version }
          : { cost: null, reason: r.reason, source: "rate-card", version: "" };
      }
      case "costline.cost": {
        if (event.data.currency === "USD") return { cost: toMoney(event.data.amount), source: "producer", version: "" };
        const fx = convert(event.data.amount, event.data.currency, at);
        if (!fx) return { cost: null, reason: `currency_not_supported:${event.data.currency}`, source: "producer", version: "" };
        return { cost: fx.usd, components: [fx.component], source: "producer", version: fx.version };
      }
      case "costline.revenue": {
        if (event.data.currency === "USD") return { cost: "0", revenue: toMoney(event.data.amount), source: "producer", version: "" };
        const fx = convert(event.data.amount, event.data.currency, at);
        if (!fx) return { cost: null, reason: `currency_not_supported:${event.data.currency}`, source: "producer", version: "" };
        // The original amount and currency stay in the breakdown; the ledger's revenue is USD.
        return { cost: "0", revenue: fx.usd, components: [fx.component], source: "producer", version: fx.version };
      }
    }
  }

  // A batch passes one `now`: its text is worked out once, not per event.
  let lastNow: Date | undefined;
  let lastNowText = "";
  /** Prices one event; `fallbackTime` stands in for an event that carries no time. */
  return function toPriced(event: CostlineEvent, fallbackTime: Date, now = new Date()): PricedEvent {
    const at = event.time ? new Date(event.time) : fallbackTime;
    if (now !== lastNow) {
      lastNow = now;
      lastNowText = now.toISOString();
    }
    const p = flagSubPicodollar(price(event, at));
    const d = event.data;
    const llm = event.type === "costline.llm.usage" ? event.data : undefined;
    const kind = eventKinds[event.type];
    const fields = ledgerFieldsOf(event);
    const hasKeys = Boolean(d.post_id || d.persona_id || d.user_id || d.feature || d.operation);
    return {
      event_id: event.id,
      source: event.source,
      type: event.type,
      kind: kind.ledgerKind,
      // Already in the form toISOString writes (most producers' times): kept as it is.
      time: event.time && canonicalUtc.test(event.time) ? event.time : at.toISOString(),
      tenant: d.tenant,
      post_id: d.post_id,
      persona_id: d.persona_id,
      user_id: d.user_id,
      feature: d.feature,
      operation: d.operation,
      trace_id: d.trace_id,
      correlation_id: d.correlation_id,
      request_id: d.request_id,
      tags: d.tags,
      provider: p.provider ?? fields.provider,
      model: p.model ?? llm?.model ?? "",
      model_requested: llm?.model ?? "",
      category: fields.category,
      usage: fields.usage,
      batch: llm?.batch ?? false,
      latency_ms: llm?.latency_ms,
      status: llm?.status,
      cost_usd: p.cost,
      revenue_usd: p.revenue ?? "0",
      priced: p.cost !== null,
      unpriced_reason: p.reason,
      price_source: p.source,
      price_version: p.version,
      ...(options.catalogVersion !== undefined ? { catalog_version: options.catalogVersion } : {}),
      components: p.components ?? [],
      // Shared costs that name no post are split across posts by the allocator, whatever else
      // they name (a feature, an operation): the allocator selects them by post_id alone.
      attribution_method: kind.shared ? (d.post_id ? "direct" : "allocated") : hasKeys ? "direct" : "unattributed",
      enriched_at: lastNowText,
    };
  };
}

/** What Date#toISOString writes for years 0000–9999: such a time is its own normal form. */
const canonicalUtc = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/** A cost that is not zero yet rounds to 0 is stored as unpriced with its exact value in the reason, never as a silent 0. */
function flagSubPicodollar(p: Pricing): Pricing {
  // A cost with a digit other than 0 is not zero: the exact check is for costs that came out as 0.
  if (p.cost === null || !p.components?.length || /[1-9]/.test(p.cost)) return p;
  const exact = subPicodollarCost(p.cost, p.components);
  return exact === undefined ? p : { ...p, cost: null, reason: `${BELOW_MONEY_SCALE}:${exact.slice(0, 200)}` };
}
