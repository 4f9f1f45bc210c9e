// Amounts in other currencies are converted with the rate in force at the
// event's time, and keep their original amount and currency in the breakdown.
import { mkdtempSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../pipeline/config/config.ts";
import { ConfigError } from "../../pipeline/errors.ts";
import { createEventPricer } from "../../pipeline/pricing/price-event.ts";
import { costlineEvent } from "../../schemas/index.ts";

function configWith(file: unknown) {
  const dir = mkdtempSync(path.join(os.tmpdir(), "costline-fx-"));
  writeFileSync(path.join(dir, "config.json"), JSON.stringify(file));
  return loadConfig({ COSTLINE_CONFIG: path.join(dir, "config.json") });
}

const config = configWith({
  pricing: {
    fxRates: [
      { currency: "EUR", usd_per_unit: "1.08", from: "2026-01-01", source: "ECB reference rate" },
      { currency: "EUR", usd_per_unit: "1.1625", from: "2026-11-01" },
      { currency: "JPY", usd_per_unit: "0.0066", from: "2026-01-01", to: "2026-06-01" },
    ],
  },
});
const toPriced = createEventPricer(config);
const event = (type: "costline.cost" | "costline.revenue", time: string, amount: string, currency: string) =>
  costlineEvent.parse({
    specversion: "1.0",
    id: `fx-${time}-${amount}`,
    source: "test/fx",
    type,
    time,
    data: { tenant: "acme", amount, currency, ...(type === "costline.cost" ? { category: "gpu" } : {}) },
  });

describe("FX conversion", () => {
  it("uses the rate in force at the event's time", () => {
    // 12.50 EUR × 1.08 = 13.5 USD (before the November rate)
    expect(toPriced(event("costline.cost", "2026-10-31T23:59:59Z", "12.50", "EUR"), new Date())).toMatchObject({
      priced: true,
      cost_usd: "13.5",
      price_version: "fx:EUR@2026-01-01",
      components: [{ unit: "fx:EUR", quantity: "12.50", unit_price: "1.08", per: 1, amount_usd: "13.5" }],
    });
    // 12.50 EUR × 1.1625 = 14.53125 USD (from 2026-11-01)
    expect(toPriced(event("costline.cost", "2026-11-01T00:00:00Z", "12.50", "EUR"), new Date())).toMatchObject({
      cost_usd: "14.53125",
      price_version: "fx:EUR@2026-11-01",
    });
  });

  it("converts revenue, refunds included, keeping the original amount", () => {
    // −20 EUR × 1.1625 = −23.25 USD
    expect(toPriced(event("costline.revenue", "2026-11-22T10:00:00Z", "-20", "EUR"), new Date())).toMatchObject({
      cost_usd: "0",
      revenue_usd: "-23.25",
      components: [{ unit: "fx:EUR", quantity: "-20", amount_usd: "-23.25" }],
    });
  });

  it("leaves an amount unpriced, with the reason, when no rate is in force", () => {
    // JPY's rate ended on 2026-06-01; CHF has none.
    expect(toPriced(event("costline.cost", "2026-11-22T10:00:00Z", "1000", "JPY"), new Date())).toMatchObject({
      priced: false,
      cost_usd: null,
      unpriced_reason: "currency_not_supported:JPY",
    });
    expect(toPriced(event("costline.cost", "2026-03-01T00:00:00Z", "1000", "JPY"), new Date())).toMatchObject({ cost_usd: "6.6" }); // 1000 × 0.0066
    expect(toPriced(event("costline.cost", "2026-11-22T10:00:00Z", "5", "CHF"), new Date())).toMatchObject({
      unpriced_reason: "currency_not_supported:CHF",
    });
  });

  it("refuses a rate that is not a positive decimal or a currency that is not a code", () => {
    expect(() => configWith({ pricing: { fxRates: [{ currency: "EUR", usd_per_unit: "0" }] } })).toThrow(ConfigError);
    expect(() => configWith({ pricing: { fxRates: [{ currency: "euro", usd_per_unit: "1.1" }] } })).toThrow(/ISO 4217/);
  });
});
