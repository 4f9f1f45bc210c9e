// Prices events with the catalog in force: the newest catalog version read
// from ClickHouse, over the configured prices, the shipped overlay and the
// bundled library. enrich holds one and refreshes it on a timer (the timer
// only swaps in a new pricer; pricing itself stays synchronous), so a price
// set through the API reaches new events within the refresh interval.
import type { Config } from "../config/config.ts";
import type { CatalogPricedEntry } from "../pricing/llm-price.ts";
import { createEventPricer } from "../pricing/price-event.ts";
import { collapse, catalogVersionString, type CatalogEntry, type CatalogStore } from "./catalog-store.ts";
import { priceSetSchema } from "../pricing/pricing-config.ts";

export type EventPricer = ReturnType<typeof createEventPricer>;

/** Catalog rows as configured entries the LLM pricer understands. */
export function catalogModels(entries: readonly CatalogEntry[], version: number): CatalogPricedEntry[] {
  return entries.map((e) => ({
    provider: e.provider,
    model: e.model,
    ...(e.tenant ? { tenant: e.tenant } : {}),
    from: e.from,
    ...(e.to ? { to: e.to } : {}),
    prices: priceSetSchema.parse(e.prices),
    origin: { source: "catalog", version: `v${version}` },
  }));
}

/** An event pricer for the catalog at `version` (default: every row read). */
export function pricerForCatalog(config: Pick<Config, "pricing" | "rateCards">, rows: readonly CatalogEntry[], version?: number) {
  const v = version ?? rows.reduce((m, r) => Math.max(m, r.version), 0);
  return {
    version: v,
    versionString: catalogVersionString(v),
    toPriced: createEventPricer(config, { catalogModels: catalogModels(collapse(rows, v), v), catalogVersion: catalogVersionString(v) }),
  };
}

export interface CatalogPricing {
  toPriced: EventPricer;
  refresh(): Promise<void>;
  versionString(): string;
  stop(): void;
}

export async function createCatalogPricing(
  config: Pick<Config, "pricing" | "rateCards">,
  store: CatalogStore,
  refreshMs: number,
  onError: (err: unknown) => void = () => {},
): Promise<CatalogPricing> {
  // A catalog that cannot be read yet (a stage started before the migrations) prices with none and retries on the timer.
  const initial = await store.rows().catch((err: unknown) => {
    onError(err);
    return [];
  });
  let current = pricerForCatalog(config, initial);
  let busy = false;
  async function refresh() {
    if (busy) return;
    busy = true;
    try {
      if ((await store.latestVersion()) !== current.version) current = pricerForCatalog(config, await store.rows());
    } finally {
      busy = false;
    }
  }
  const timer = setInterval(() => void refresh().catch(onError), refreshMs);
  timer.unref();
  return {
    toPriced: (event, fallbackTime, now) => current.toPriced(event, fallbackTime, now),
    refresh,
    versionString: () => current.versionString,
    stop: () => clearInterval(timer),
  };
}
