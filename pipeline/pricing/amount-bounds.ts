// Money bounds applied to what pricing produced: a priced cost or revenue
// outside the per-event bound (schemas/money.ts) is refused for that event
// alone, and a priced cost that is not zero but rounds to zero at ledger
// scale is flagged instead of being stored as a silent 0.
import { amountProblem, MAX_EVENT_AMOUNT_USD, type PriceComponent, type PricedEvent } from "../../schemas/index.ts";
import { PermanentError } from "../errors.ts";
import { Decimal, toMoney } from "./decimal.ts";

/** The unpriced_reason of a cost that was not zero yet rounds to 0 at 12 decimals. */
export const BELOW_MONEY_SCALE = "below_money_scale";

/** Throws amount_out_of_range when the priced event's cost or revenue is outside the per-event bound. */
export function checkPricedAmounts(e: Pick<PricedEvent, "cost_usd" | "revenue_usd">): void {
  for (const [field, value] of [
    ["cost_usd", e.cost_usd],
    ["revenue_usd", e.revenue_usd],
  ] as const) {
    if (value === null) continue;
    const problem = amountProblem(value);
    if (problem)
      throw new PermanentError(
        "amount_out_of_range",
        `priced ${field} ${value.slice(0, 80)} is outside ±${MAX_EVENT_AMOUNT_USD} USD, the per-event bound (usage or rate too large)`,
      );
  }
}

/**
 * The exact (unrounded) cost of the usage components, when it is not zero
 * but rounds to zero at ledger scale: the cost is below a picodollar.
 * Discount lines are left out, and a usage cost of a picodollar or more that
 * a discount brings to zero is a real zero.
 */
export function subPicodollarCost(costUsd: string, components: readonly PriceComponent[]): string | undefined {
  if (!new Decimal(costUsd).isZero()) return undefined;
  let exact = new Decimal(0);
  for (const c of components) {
    if (c.unit.endsWith("_discount")) continue;
    exact = exact.plus(new Decimal(c.unit_price).dividedBy(c.per).times(c.quantity));
  }
  return exact.isZero() || !new Decimal(toMoney(exact)).isZero() ? undefined : exact.toFixed();
}
