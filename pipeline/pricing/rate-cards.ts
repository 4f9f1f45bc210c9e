// Prices non-LLM usage from the configured rate cards, the rate in force at
// the event's time: infra by resource and unit, vector databases by provider
// (or the "default" card) for read units, write units and storage.
import type { PriceComponent } from "../../schemas/index.ts";
import { Decimal, toMoney } from "./decimal.ts";
import { inForce, type RateCards } from "./pricing-config.ts";

export type RateResult =
  { priced: true; costUsd: string; components: PriceComponent[]; version: string } | { priced: false; reason: string };

function component(unit: string, quantity: number, rate: string): PriceComponent {
  return { unit, quantity: String(quantity), unit_price: rate, per: 1, amount_usd: toMoney(new Decimal(rate).times(String(quantity))) };
}

function total(components: PriceComponent[]): string {
  return toMoney(components.reduce((sum, c) => sum.plus(c.amount_usd), new Decimal(0)));
}

export function createRateCardPricer(cards: RateCards) {
  return {
    infra(resource: string, unit: string, quantity: number, at: Date): RateResult {
      const rate = inForce(
        cards.infra.filter((r) => r.resource === resource && r.unit === unit),
        at,
      );
      if (!rate) return { priced: false, reason: `no_rate_card:${resource}/${unit}` };
      const components = [component(`${resource}/${unit}`, quantity, rate.price)];
      return { priced: true, costUsd: total(components), components, version: rate.from.toISOString().slice(0, 10) };
    },
    vectordb(provider: string, usage: { read_units: number; write_units: number; storage_gib_month?: number }, at: Date): RateResult {
      const p = provider.toLowerCase();
      const rate =
        inForce(
          cards.vectordb.filter((r) => r.provider === p),
          at,
        ) ??
        inForce(
          cards.vectordb.filter((r) => r.provider === "default"),
          at,
        );
      if (!rate) return { priced: false, reason: `no_rate_card:vectordb/${p}` };
      const components = [
        component("read_unit", usage.read_units, rate.read_unit),
        component("write_unit", usage.write_units, rate.write_unit),
      ];
      if (usage.storage_gib_month) components.push(component("storage_gib_month", usage.storage_gib_month, rate.storage_gib_month));
      return { priced: true, costUsd: total(components), components, version: rate.from.toISOString().slice(0, 10) };
    },
  };
}
