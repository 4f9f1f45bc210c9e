// Prices LLM usage with @pydantic/genai-prices: the library resolves the
// provider and model (aliases, dated ids, provider prefixes) and holds the
// price data; the amounts are computed here in decimal, never as float sums.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { calcPrice, type ModelInfo, type ModelPrice, type Provider } from "@pydantic/genai-prices";
import { PermanentError } from "../errors.ts";
import { Decimal, toMoney } from "./decimal.ts";
import { refines, unitByPriceKey, units, type UnitDef } from "./units.ts";
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

/**
 * Splits usage into the disjoint leaves the prices apply to: each priced unit
 * gets its reported amount minus what its more specific priced units took.
 */
export function leafQuantities(usage: Record<string, number>, pricedUnits: string[]): Map<string, number> {
  const defs = pricedUnits
    .filter((k) => k !== "requests")
    .map((k) => [k, units[k]!] as [string, UnitDef])
    .sort(
      ([ka, a], [kb, b]) =>
        Object.keys(b.dimensions).length - Object.keys(a.dimensions).length || ka.localeCompare(kb),
    );
  const leaves = new Map<string, number>();
  for (const [key, def] of defs) {
    let covered = 0;
    for (const [other, otherDef] of defs) if (other !== key && refines(otherDef, def)) covered += leaves.get(other) ?? 0;
    const leaf = (usage[key] ?? 0) - covered;
    if (leaf < 0)
      throw new PermanentError(
        "invalid_usage",
        `usage is inconsistent: more specific token counts add up to ${covered}, more than ${key} (${usage[key] ?? 0})`,
      );
    leaves.set(key, leaf);
  }
  if (pricedUnits.includes("requests")) leaves.set("requests", 1);
  return leaves;
}

function unitPrice(price: number | Tiered, inputTokens: number): number {
  if (typeof price === "number") return price;
  let p = price.base;
  for (const tier of [...price.tiers].sort((a, b) => a.start - b.start)) if (inputTokens > tier.start) p = tier.price;
  return p;
}

/** Prices one usage record against a model price; every amount is decimal. */
export function priceUsage(usage: Record<string, number>, price: ModelPrice): { costUsd: string; components: PriceComponent[] } {
  const entries: { usageKey: string; per: number; price: number | Tiered; priceKey: string }[] = [];
  for (const [priceKey, value] of Object.entries(price)) {
    if (value === undefined) continue;
    const unit = unitByPriceKey.get(priceKey);
    if (!unit) continue; // a price for a unit the event cannot report
    entries.push({ usageKey: unit.usageKey, per: unit.per, price: value as number | Tiered, priceKey });
  }
  for (const key of Object.keys(usage))
    if (!(key in units)) throw new PermanentError("invalid_usage", `unknown usage key "${key}"`);
  const leaves = leafQuantities(
    usage,
    entries.map((e) => e.usageKey),
  );
  const inputTokens = usage.input_tokens ?? 0;
  let total = new Decimal(0);
  const components: PriceComponent[] = [];
  for (const e of entries) {
    const qty = leaves.get(e.usageKey) ?? 0;
    if (qty === 0) continue;
    const rate = new Decimal(String(unitPrice(e.price, inputTokens)));
    const amount = rate.times(String(qty)).dividedBy(e.per);
    total = total.plus(amount);
    components.push({ unit: e.priceKey, quantity: String(qty), unit_price: rate.toFixed(), per: e.per, amount_usd: toMoney(amount) });
  }
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
