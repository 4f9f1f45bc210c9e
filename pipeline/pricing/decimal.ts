// The decimal type for money: 40 significant digits, amounts kept to 12
// decimal places (the ledger's Decimal(38, 12) scale).
import { Decimal as DecimalJs } from "decimal.js";
import { MONEY_SCALE } from "../../schemas/money.ts";

export const Decimal = DecimalJs.clone({ precision: 40, rounding: DecimalJs.ROUND_HALF_EVEN });
export type Decimal = InstanceType<typeof Decimal>;

export { MONEY_SCALE };

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

const PICO = 10n ** BigInt(MONEY_SCALE);

/** A decimal string at ledger scale as an integer count of 1e-12 USD: exact, and far cheaper to add than Decimal. */
export function toPico(value: string): bigint {
  const negative = value.startsWith("-");
  const [whole = "0", frac = ""] = (negative ? value.slice(1) : value).split(".");
  const pico = BigInt(whole) * PICO + BigInt((frac + "000000000000").slice(0, MONEY_SCALE));
  return negative ? -pico : pico;
}

export function fromPico(pico: bigint): string {
  const negative = pico < 0n;
  const abs = negative ? -pico : pico;
  const frac = (abs % PICO).toString().padStart(MONEY_SCALE, "0").replace(/0+$/, "");
  return `${negative ? "-" : ""}${abs / PICO}${frac ? `.${frac}` : ""}`;
}
