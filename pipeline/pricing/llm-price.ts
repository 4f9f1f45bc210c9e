// Prices LLM usage with @pydantic/genai-prices: the library resolves the
// provider and model (aliases, dated ids, provider prefixes) and holds the
// price data; the amounts are computed here in decimal, never as float sums.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { calcPrice, type ModelInfo, type ModelPrice, type Provider } from "@pydantic/genai-prices";
import { PermanentError } from "../errors.ts";
import { Decimal, toMoney } from "./decimal.ts";
import { refines, unitByPriceKey, units } from "./units.ts";
import type { PriceComponent } from "../../schemas/index.ts";

// The package does not export its package.json; read it beside its entry point.
const libEntry = createRequire(import.meta.url).resolve("@pydantic/genai-prices");
const libVersion: string = JSON.parse(readFileSync(path.join(path.dirname(libEntry), "..", "package.json"), "utf8")).version;

export const priceSource = { name: "genai-prices", version: libVersion } as const;

export interface ResolvedModel {
  provider: Provider;
  model: ModelInfo;
}

export type LlmPriceResult =
  | {
      priced: true;
      costUsd: string;
      provider: string;
      model: string;
      components: PriceComponent[];
    }
  | { priced: false; reason: "unknown_model"; provider: string; model: string };

type Tiered = { base: number; tiers: { start: number; price: number }[] };


/** Resolves (provider, model) once per distinct pair; the price in force is chosen per event. */
export function createModelResolver() {
  const cache = new Map<string, ResolvedModel | null>();
  return function resolve(provider: string, model: string): ResolvedModel | null {
    const key = `${provider}\u0000${model}`;
    let hit = cache.get(key);
    if (hit === undefined) {
      hit = lookup(provider, model);
      if (cache.size > 10_000) cache.clear();
      cache.set(key, hit);
    }
    return hit;
  };
}

function lookup(provider: string, model: string): ResolvedModel | null {
  const attempt = (providerId: string | undefined, modelId: string) => {
    try {
      const r = calcPrice({}, modelId, providerId ? { providerId } : {});
      return r ? { provider: r.provider, model: r.model } : null;
    } catch {
      return null;
    }
  };
  const p = provider.trim().toLowerCase();
  const m = model.trim();
  // "provider/model" and "provider:model" as producers often send them.
  const prefixed = /^([a-z0-9_-]+)[/:](.+)$/i.exec(m);
  return (
    attempt(p, m) ??
    (prefixed ? attempt(prefixed[1]!.toLowerCase(), prefixed[2]!) ?? attempt(p, prefixed[2]!) : null) ??
    attempt(undefined, m)
  );
}

/** The price in force at `at`: the newest start date reached, or a time-of-day window (UTC). */
export function priceAt(model: ModelInfo, at: Date): ModelPrice {
  if (!Array.isArray(model.prices)) return model.prices;
  for (let i = model.prices.length - 1; i >= 0; i--) {
    const candidate = model.prices[i]!;
    const c = candidate.constraint;
    if (c === undefined) return candidate.prices;
    if (c.type === "start_date") {
      if (at >= new Date(c.start_date)) return candidate.prices;
    } else if (c.type === "time_of_date") {
      const secs = at.getUTCHours() * 3600 + at.getUTCMinutes() * 60 + at.getUTCSeconds();
      const start = secondsOfDay(c.start_time);
      const end = secondsOfDay(c.end_time);
      const inside = end < start ? secs >= start || secs < end : secs >= start && secs < end;
      if (inside) return candidate.prices;
    }
  }
  return model.prices[0]!.prices;
}

function secondsOfDay(t: string): number {
  const m = /^(\d{2}):(\d{2}):(\d{2})(?:\.\d+)?(Z|([+-])(\d{2}):(\d{2}))$/.exec(t);
  if (!m) return 0;
  const offset = m[4] === "Z" ? 0 : (m[5] === "+" ? 1 : -1) * (Number(m[6]) * 3600 + Number(m[7]) * 60);
  return (Number(m[1]) * 3600 + Number(m[2]) * 60 + Number(m[3]) - offset + 86_400) % 86_400;
}

interface PlanEntry {
  usageKey: string;
  priceKey: string;
  per: number;
  /** Price per single unit (rate / per) for a flat price; tiered prices are resolved per event. */
  flat?: Decimal;
  tiered?: Tiered;
  /** Indexes of the entries whose units refine this one (their leaves are carved out of it). */
  refinedBy: number[];
}

/** How one model price applies to usage, worked out once per price object. */
interface PricePlan {
  entries: PlanEntry[];
  hasRequests: boolean;
}

const plans = new WeakMap<ModelPrice, PricePlan>();

function planFor(price: ModelPrice): PricePlan {
  let plan = plans.get(price);
  if (plan) return plan;
  const entries: PlanEntry[] = [];
  for (const [priceKey, value] of Object.entries(price)) {
    if (value === undefined) continue;
    const unit = unitByPriceKey.get(priceKey);
    if (!unit) continue; // a price for a unit no event can report
    const entry: PlanEntry = { usageKey: unit.usageKey, priceKey, per: unit.per, refinedBy: [] };
    if (typeof value === "number") entry.flat = new Decimal(String(value)).dividedBy(unit.per);
    else entry.tiered = { base: value.base, tiers: [...value.tiers].sort((a, b) => a.start - b.start) };
    entries.push(entry);
  }
  // Most specific units first, so a unit's refinements are computed before it.
  const dims = (e: PlanEntry) => Object.keys(units[e.usageKey]!.dimensions).length;
  entries.sort((a, b) => dims(b) - dims(a) || a.usageKey.localeCompare(b.usageKey));
  entries.forEach((e, i) => {
    if (e.usageKey === "requests") return;
    entries.forEach((o, j) => {
      if (j !== i && o.usageKey !== "requests" && refines(units[o.usageKey]!, units[e.usageKey]!)) e.refinedBy.push(j);
    });
  });
  plan = { entries, hasRequests: entries.some((e) => e.usageKey === "requests") };
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

function tierRate(price: Tiered, inputTokens: number): number {
  let p = price.base;
  for (const tier of price.tiers) if (inputTokens > tier.start) p = tier.price;
  return p;
}

/** Prices one usage record against a model price; every amount is decimal. */
export function priceUsage(usage: Record<string, number>, price: ModelPrice): { costUsd: string; components: PriceComponent[] } {
  for (const key in usage) if (!(key in units)) throw new PermanentError("invalid_usage", `unknown usage key "${key}"`);
  const plan = planFor(price);
  const qty = leaves(usage, plan);
  const inputTokens = usage.input_tokens ?? 0;
  let total = new Decimal(0);
  const components: PriceComponent[] = [];
  plan.entries.forEach((e, i) => {
    const q = qty[i]!;
    if (q === 0) return;
    const rate = e.flat ? e.flat.times(e.per) : new Decimal(String(tierRate(e.tiered!, inputTokens)));
    const perUnit = e.flat ?? rate.dividedBy(e.per);
    const amount = perUnit.times(q);
    total = total.plus(amount);
    components.push({ unit: e.priceKey, quantity: String(q), unit_price: rate.toFixed(), per: e.per, amount_usd: toMoney(amount) });
  });
  return { costUsd: toMoney(total), components };
}

export function createLlmPricer() {
  const resolve = createModelResolver();
  return function priceLlm(provider: string, model: string, usage: Record<string, number>, at: Date): LlmPriceResult {
    const resolved = resolve(provider, model);
    if (!resolved) return { priced: false, reason: "unknown_model", provider, model };
    const { costUsd, components } = priceUsage(usage, priceAt(resolved.model, at));
    return { priced: true, costUsd, components, provider: resolved.provider.id, model: resolved.model.id };
  };
}
