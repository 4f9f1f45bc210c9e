// Applies one model price to one usage record in decimal arithmetic. The
// plan (which unit each price applies to, which units refine which, the rate
// per unit) is worked out once per price object and reused for every event.
import type { ModelPrice } from "@pydantic/genai-prices";
import { PermanentError } from "../errors.ts";
import { Decimal, MONEY_SCALE, fromPico, toMoney } from "./decimal.ts";
import { refines, unitByPriceKey, units } from "./units.ts";
import type { PriceComponent } from "../../schemas/index.ts";

/** A price as genai-prices holds it (numbers) or as configuration holds it (decimal strings). */
export type AnyPrice = number | string | { base: number | string; tiers: { start: number; price: number | string }[] };
export type AnyModelPrice = ModelPrice | Record<string, AnyPrice | undefined>;
type Tiered = { base: number | string; tiers: { start: number; price: number | string }[] };

interface PlanEntry {
  usageKey: string;
  priceKey: string;
  per: number;
  /** Price per single unit (rate / per) for a flat price; tiered prices are resolved per event. */
  flat?: Decimal;
  /** The flat rate as the breakdown shows it (per `per` units). */
  flatText?: string;
  /**
   * The flat price per single unit as an integer over a power of ten, when that
   * is exact (per is a power of ten): amounts are then computed in integer
   * arithmetic, with the same half-even rounding at ledger scale as Decimal.
   */
  exact?: { mantissa: bigint; scale: number };
  tiered?: Tiered;
  /** Indexes of the entries whose units refine this one (their leaves are carved out of it). */
  refinedBy: number[];
}

/** How one model price applies to usage, worked out once per price object. */
interface PricePlan {
  entries: PlanEntry[];
  /** Entry indexes in the price's own key order, for the breakdown. */
  displayOrder: number[];
}

const plans = new WeakMap<object, PricePlan>();

function planFor(price: AnyModelPrice): PricePlan {
  let plan = plans.get(price);
  if (plan) return plan;
  const entries: PlanEntry[] = [];
  for (const [priceKey, value] of Object.entries(price)) {
    if (value === undefined) continue;
    const unit = unitByPriceKey.get(priceKey);
    if (!unit) continue; // a price for a unit no event can report
    const entry: PlanEntry = { usageKey: unit.usageKey, priceKey, per: unit.per, refinedBy: [] };
    const v = value as AnyPrice;
    if (typeof v === "number" || typeof v === "string") {
      const rate = new Decimal(String(v));
      entry.flat = rate.dividedBy(unit.per);
      entry.flatText = rate.toFixed();
      entry.exact = exactRate(entry.flatText, unit.per);
    } else entry.tiered = { base: v.base, tiers: [...v.tiers].sort((a, b) => a.start - b.start) };
    entries.push(entry);
  }
  const original = [...entries];
  // Most specific units first, so a unit's refinements are computed before it.
  const dims = (e: PlanEntry) => Object.keys(units[e.usageKey]!.dimensions).length;
  entries.sort((a, b) => dims(b) - dims(a) || a.usageKey.localeCompare(b.usageKey));
  entries.forEach((e, i) => {
    if (e.usageKey === "requests") return;
    entries.forEach((o, j) => {
      if (j !== i && o.usageKey !== "requests" && refines(units[o.usageKey]!, units[e.usageKey]!)) e.refinedBy.push(j);
    });
  });
  plan = { entries, displayOrder: original.map((e) => entries.indexOf(e)) };
  plans.set(price, plan);
  return plan;
}

/**
 * Splits usage into the disjoint leaves the prices apply to: each priced unit
 * gets its reported amount minus what its more specific priced units took.
 * Requests count one per call, as genai-prices counts them.
 */
function leaves(usage: Record<string, number>, plan: PricePlan): number[] {
  const out = new Array<number>(plan.entries.length);
  plan.entries.forEach((e, i) => {
    if (e.usageKey === "requests") {
      out[i] = 1;
      return;
    }
    let covered = 0;
    for (const j of e.refinedBy) covered += out[j]!;
    const leaf = (usage[e.usageKey] ?? 0) - covered;
    if (leaf < 0)
      throw new PermanentError(
        "invalid_usage",
        `usage is inconsistent: more specific token counts add up to ${covered}, more than ${e.usageKey} (${usage[e.usageKey] ?? 0})`,
      );
    out[i] = leaf;
  });
  return out;
}

const TEN = 10n;
/** Digits beyond which Decimal (40 significant digits) could round a product: keep those on the Decimal path. */
const EXACT_DIGITS = 36;

/** `rate` (a plain decimal string) ÷ `per` as mantissa × 10^-scale, when per is a power of ten. */
function exactRate(rate: string, per: number): { mantissa: bigint; scale: number } | undefined {
  const k = Math.log10(per);
  if (!Number.isInteger(k) || k < 0 || !/^-?\d+(\.\d+)?$/.test(rate)) return undefined;
  const [whole, frac = ""] = rate.split(".");
  const mantissa = BigInt(`${whole}${frac}`);
  if (mantissa < 0n || mantissa.toString().length > 24) return undefined;
  return { mantissa, scale: frac.length + k };
}

/** round-half-even(n ÷ 10^shift) for n ≥ 0. */
function shiftRound(n: bigint, shift: number): bigint {
  if (shift <= 0) return n * TEN ** BigInt(-shift);
  const d = TEN ** BigInt(shift);
  const q = n / d;
  const r = n - q * d;
  const twice = 2n * r;
  if (twice > d || (twice === d && q % 2n === 1n)) return q + 1n;
  return q;
}

/** A quantity times an exact rate, in picodollars; undefined where Decimal must decide. */
function exactAmount(exact: { mantissa: bigint; scale: number }, q: number): bigint | undefined {
  if (!Number.isSafeInteger(q) || q < 0) return undefined;
  const product = exact.mantissa * BigInt(q);
  if (product.toString().length > EXACT_DIGITS) return undefined;
  return shiftRound(product, exact.scale - MONEY_SCALE);
}

function tierRate(price: Tiered, inputTokens: number): number | string {
  let p = price.base;
  for (const tier of price.tiers) if (inputTokens > tier.start) p = tier.price;
  return p;
}

/** Prices one usage record against a model price; every amount is decimal. */
export function priceUsage(usage: Record<string, number>, price: AnyModelPrice): { costUsd: string; components: PriceComponent[] } {
  for (const key in usage) if (!(key in units)) throw new PermanentError("invalid_usage", `unknown usage key "${key}"`);
  const plan = planFor(price);
  const qty = leaves(usage, plan);
  const inputTokens = usage.input_tokens ?? 0;
  let total = new Decimal(0);
  // Integer picodollars while every amount is exact; Decimal takes over from the first that is not.
  let pico: bigint | undefined = 0n;
  const components: PriceComponent[] = [];
  for (const i of plan.displayOrder) {
    const e = plan.entries[i]!;
    const q = qty[i]!;
    if (q === 0) continue;
    const exact = e.exact && exactAmount(e.exact, q);
    if (exact !== undefined) {
      const amount = fromPico(exact);
      if (pico !== undefined) pico += exact;
      else total = total.plus(amount);
      components.push({ unit: e.priceKey, quantity: String(q), unit_price: e.flatText!, per: e.per, amount_usd: amount });
      continue;
    }
    if (pico !== undefined) {
      total = new Decimal(fromPico(pico));
      pico = undefined;
    }
    const rate = e.flat ? e.flat.times(e.per) : new Decimal(String(tierRate(e.tiered!, inputTokens)));
    const perUnit = e.flat ?? rate.dividedBy(e.per);
    const amount = toMoney(perUnit.times(q));
    // The total is the sum of the rounded components, so the breakdown always adds up.
    total = total.plus(amount);
    components.push({ unit: e.priceKey, quantity: String(q), unit_price: rate.toFixed(), per: e.per, amount_usd: amount });
  }
  return { costUsd: pico !== undefined ? fromPico(pico) : toMoney(total), components };
}
