// Splits one shared cost across posts in proportion to their driver, exactly:
// every share is rounded down to the ledger's 12 decimal places and the
// remaining picodollars go to the largest remainders, so the parts always add
// up to the whole. With no driver at all, the whole cost is unallocated.
import { Decimal, MONEY_SCALE, toMoney } from "../pricing/decimal.ts";

export interface Driver {
  post_id: string;
  persona_id: string;
  weight: string;
}

export interface Share {
  post_id: string;
  persona_id: string;
  share: number;
  amount_usd: string;
}

const UNIT = new Decimal(1).dividedBy(new Decimal(10).pow(MONEY_SCALE));

export function splitCost(cost: string, drivers: Driver[]): Share[] {
  const weighted = drivers.filter((d) => new Decimal(d.weight).gt(0));
  const total = weighted.reduce((s, d) => s.plus(d.weight), new Decimal(0));
  if (weighted.length === 0 || total.isZero()) return [{ post_id: "", persona_id: "", share: 1, amount_usd: toMoney(cost) }];
  const whole = new Decimal(cost);
  const parts = weighted.map((d) => {
    const exact = whole.times(d.weight).dividedBy(total);
    const floor = exact.toDecimalPlaces(MONEY_SCALE, Decimal.ROUND_DOWN);
    return { d, floor, rest: exact.minus(floor) };
  });
  let left = whole.minus(parts.reduce((s, p) => s.plus(p.floor), new Decimal(0)));
  // Largest remainder first; the post id breaks ties so the split is deterministic.
  const order = [...parts].sort((a, b) => b.rest.comparedTo(a.rest) || a.d.post_id.localeCompare(b.d.post_id));
  for (const p of order) {
    if (left.lt(UNIT)) break;
    p.floor = p.floor.plus(UNIT);
    left = left.minus(UNIT);
  }
  return parts.map((p) => ({
    post_id: p.d.post_id,
    persona_id: p.d.persona_id,
    share: Number(new Decimal(p.d.weight).dividedBy(total).toFixed(9)),
    amount_usd: toMoney(p.floor),
  }));
}
