// The decimal type for money: 40 significant digits, amounts kept to 12
// decimal places (the ledger's Decimal(38, 12) scale).
import { Decimal as DecimalJs } from "decimal.js";

export const Decimal = DecimalJs.clone({ precision: 40, rounding: DecimalJs.ROUND_HALF_EVEN });
export type Decimal = InstanceType<typeof Decimal>;

export const MONEY_SCALE = 12;

/** A decimal string at ledger scale, without trailing zeros ("0.0025"). */
export function toMoney(value: Decimal | string | number): string {
  const d = value instanceof Decimal ? value : new Decimal(String(value));
  return (d.decimalPlaces() > MONEY_SCALE ? d.toDecimalPlaces(MONEY_SCALE) : d).toFixed();
}

export function sumMoney(values: Iterable<string>): string {
  let total = new Decimal(0);
  for (const v of values) total = total.plus(v);
  return toMoney(total);
}
