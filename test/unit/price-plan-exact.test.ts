// The integer fast path of priceUsage must give exactly what Decimal
// arithmetic gives: every component and the total, to the last digit.
import { describe, expect, it } from "vitest";
import { priceUsage } from "../../pipeline/pricing/price-plan.ts";
import { Decimal, toMoney } from "../../pipeline/pricing/decimal.ts";
import { seededRandom } from "../../pipeline/demo/traffic.ts";

/** The plain Decimal computation the fast path stands in for. */
function reference(usage: Record<string, number>, prices: Record<string, number | string>) {
  const per = 1_000_000;
  const leaves: [string, string, number][] = [];
  const cacheRead = usage.cache_read_tokens ?? 0;
  if (prices.input_mtok !== undefined) leaves.push(["input_mtok", String(prices.input_mtok), (usage.input_tokens ?? 0) - cacheRead]);
  if (prices.cache_read_mtok !== undefined) leaves.push(["cache_read_mtok", String(prices.cache_read_mtok), cacheRead]);
  if (prices.output_mtok !== undefined) leaves.push(["output_mtok", String(prices.output_mtok), usage.output_tokens ?? 0]);
  let total = new Decimal(0);
  const amounts: Record<string, string> = {};
  for (const [key, rate, q] of leaves) {
    if (q === 0) continue;
    const amount = toMoney(new Decimal(rate).dividedBy(per).times(q));
    amounts[key] = amount;
    total = total.plus(amount);
  }
  return { total: toMoney(total), amounts };
}

describe("priceUsage in integer arithmetic", () => {
  it("agrees with Decimal on random rates and token counts, rounding half to even", () => {
    const r = seededRandom(5);
    const rate = () => {
      const kind = r();
      if (kind < 0.3) return Number((r() * 100).toFixed(Math.floor(r() * 6)));
      if (kind < 0.5) return Number(`${Math.floor(r() * 9) + 1}e-${Math.floor(r() * 9) + 1}`); // 3e-7 as genai-prices may hold it
      // Configured prices: decimal strings with many places, some ending in 5 at the rounding digit.
      return `${Math.floor(r() * 50)}.${String(Math.floor(r() * 1e9)).padStart(9, "0")}${r() < 0.5 ? "5" : ""}`;
    };
    for (let i = 0; i < 3000; i++) {
      const prices = { input_mtok: rate(), cache_read_mtok: rate(), output_mtok: rate() };
      const input = Math.floor(r() ** 3 * 2_000_000_000);
      const usage = {
        input_tokens: input,
        cache_read_tokens: r() < 0.4 ? Math.floor(input * r()) : 0,
        output_tokens: Math.floor(r() ** 4 * 1_000_000_000),
      };
      const got = priceUsage(usage, prices);
      const want = reference(usage, prices);
      expect(got.costUsd, JSON.stringify({ usage, prices })).toBe(want.total);
      for (const c of got.components) expect(c.amount_usd).toBe(want.amounts[c.unit]);
    }
  });

  it("rounds an exact half to the even picodollar", () => {
    // 0.5 USD per MTok × 1 token = 5e-7 exactly; 0.0000005 per MTok × 1 token = 5e-13: half a picodollar → 0.
    expect(priceUsage({ input_tokens: 1 }, { input_mtok: "0.0000005" }).components[0]!.amount_usd).toBe("0");
    expect(priceUsage({ input_tokens: 3 }, { input_mtok: "0.0000005" }).components[0]!.amount_usd).toBe("0.000000000002");
    expect(priceUsage({ input_tokens: 1 }, { input_mtok: 0.5 }).costUsd).toBe("0.0000005");
  });
});
