// Finds the genai-prices model for what a producer sent: the library matches
// dated ids, Bedrock and Vertex ids and provider aliases; here we add
// "provider/model" and "provider:model" prefixes and cache the answer per
// distinct (provider, model), so the matching runs once, not per event.
// Models the shipped overlay adds are matched first, by an anchored pattern,
// so a library `contains` match cannot shadow them (Titan Embeddings V2).
// An empty provider is inferred from the id's prefix or from the one
// provider whose models match; a provider nobody knows is never remapped.
import { calcPrice, findProvider, type ModelInfo, type ModelPrice, type Provider } from "@pydantic/genai-prices";
import type { OverlayModel } from "./price-overlay.ts";

export interface ResolvedModel {
  provider: Provider;
  model: ModelInfo;
}

/** Provider ids the library knows (its ids and aliases such as bedrock, vertex), and LiteLLM's routing prefix. */
export function libraryProvider(id: string): Provider | undefined {
  const p = id.trim().toLowerCase();
  return p ? findProvider({ providerId: p }) : undefined;
}
export function isLibraryProvider(id: string): boolean {
  return id.trim().toLowerCase() === "litellm" || libraryProvider(id) !== undefined;
}

export function createModelResolver(maxEntries = 10_000, extraModels: readonly OverlayModel[] = []) {
  const cache = new Map<string, ResolvedModel | null>();
  return function resolve(provider: string, model: string): ResolvedModel | null {
    const key = `${provider}\u0000${model}`;
    let hit = cache.get(key);
    if (hit === undefined) {
      hit = overlayLookup(extraModels, provider, model) ?? lookup(provider, model);
      if (cache.size >= maxEntries) cache.clear();
      cache.set(key, hit);
    }
    return hit;
  };
}

function attempt(providerId: string | undefined, modelId: string): ResolvedModel | null {
  try {
    const r = calcPrice({}, modelId, providerId ? { providerId } : {});
    return r ? { provider: r.provider, model: r.model } : null;
  } catch {
    return null;
  }
}

function overlayLookup(models: readonly OverlayModel[], provider: string, model: string): ResolvedModel | null {
  if (models.length === 0) return null;
  const m = model.trim();
  const prefixed = /^([a-z0-9_-]+)[/:](.+)$/i.exec(m);
  const candidates: [string, string][] = [[provider, m]];
  if (prefixed) candidates.push([provider || prefixed[1]!, prefixed[2]!]);
  for (const [p, id] of candidates) {
    const host = p ? libraryProvider(p) : undefined;
    if (p && !host) continue;
    for (const o of models)
      if ((!host || host.id === o.provider) && o.pattern.test(id)) {
        const owner = host ?? libraryProvider(o.provider);
        if (owner) return { provider: owner, model: o.model };
      }
  }
  return null;
}

function lookup(provider: string, model: string): ResolvedModel | null {
  const p = provider.trim().toLowerCase();
  const m = model.trim();
  const prefixed = /^([a-z0-9_-]+)[/:](.+)$/i.exec(m);
  return (
    attempt(p, m) ??
    (prefixed ? (attempt(prefixed[1]!.toLowerCase(), prefixed[2]!) ?? attempt(p, prefixed[2]!)) : null) ??
    attempt(undefined, m)
  );
}

/** The library price in force at `at`: the newest start date reached, or a time-of-day window (UTC). */
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
