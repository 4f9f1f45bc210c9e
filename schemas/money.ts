// Bounds on one event's money, chosen so that no sum the ledger can hold
// overflows its Decimal(38, 12) columns (docs/money-and-escaping.md has the
// arithmetic): |amount| < 1e9 USD and at most 12 significant decimal places
// (trailing zeros are free: "5.250000000000000000" is 5.25 exactly). A value
// outside them is refused per event with a reason, never rounded or wrapped.
import * as z from "zod";

/** The ledger keeps amounts to 12 decimal places (a picodollar). */
export const MONEY_SCALE = 12;
/** Integer digits one event's amount may have: |amount| < 10^9 USD. */
export const MAX_AMOUNT_INTEGER_DIGITS = 9;
/** The largest |amount| one event may carry. */
export const MAX_EVENT_AMOUNT_USD = "999999999.999999999999";

/**
 * The same bounds as a pattern, so a producer validating against the
 * generated JSON Schema refuses what the pipeline refuses. No leading zeros,
 * at most 9 integer digits, at most 12 decimals plus trailing zeros.
 */
export const eventAmountPattern = /^-?(0|[1-9]\d{0,8})(\.\d{1,12}0*)?$/;

/** Why an amount is refused: the DLQ reason it is filed under. */
export type AmountProblem = "amount_out_of_range" | "too_many_decimals" | "validation";

const decimalText = /^-?\d+(\.\d+)?$/;

/** Why `value` is not an acceptable event amount, or undefined when it is. */
export function amountProblem(value: unknown): AmountProblem | undefined {
  if (typeof value !== "string" || value.length > 64 || !decimalText.test(value)) return "validation";
  if (eventAmountPattern.test(value)) return undefined;
  const unsigned = value.replace(/^-/, "");
  const [whole = "", frac = ""] = unsigned.split(".");
  const integerDigits = whole.replace(/^0+(?=\d)/, "");
  if (integerDigits.length > MAX_AMOUNT_INTEGER_DIGITS) return "amount_out_of_range";
  if (frac.replace(/0+$/, "").length > MONEY_SCALE) return "too_many_decimals";
  return "validation"; // leading zeros ("007.5")
}

/** What the problem means, for a DLQ detail. */
export function amountProblemText(problem: AmountProblem, value: unknown): string {
  const shown = typeof value === "string" ? JSON.stringify(value.slice(0, 80)) : typeof value;
  if (problem === "amount_out_of_range") return `amount ${shown} is outside ±${MAX_EVENT_AMOUNT_USD} USD, the per-event bound`;
  if (problem === "too_many_decimals")
    return `amount ${shown} has more than ${MONEY_SCALE} decimal places (below a picodollar); the ledger would have to round it`;
  return `amount ${shown} must be a decimal string such as "12.50", without leading zeros`;
}

/**
 * One event's amount as a decimal string within the bounds: producers' cost
 * and revenue amounts, and the priced cost and revenue of a priced event.
 * Negative amounts are refunds and credits (docs/money-and-escaping.md).
 */
export const eventAmount = z
  .string()
  .max(64)
  .regex(eventAmountPattern, `must be a decimal string of |amount| < 1e9 with at most ${MONEY_SCALE} decimals, such as "12.50"`);

/** True when `value` (a decimal string at any scale) is within the per-event bound. */
export function withinAmountBound(value: string): boolean {
  return amountProblem(value) === undefined;
}
