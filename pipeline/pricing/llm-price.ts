// Prices LLM usage the way the provider bills it. Resolution order:
//   1. configured aliases (Azure deployment names → a provider's model);
//   2. configured prices (private or fine-tuned models, overrides, a tenant's
//      negotiated rate), the entry in force at the event's time;
//   3. @pydantic/genai-prices data, the price in force at the event's time,
//      with the shipped corrections (price-overlay.ts) in force then applied.
// A provider neither the library nor the configuration knows is reported
// (unknown_provider), never priced as another provider's model.
// Then the Batch API multiplier (batch: true) and a tenant's discount, each
// an itemised component. Every amount is decimal; the ledger records which
// source and version priced the event.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import type { PriceComponent } from "../../schemas/index.ts";
import { groupBy } from "../group-by.ts";
import { Decimal, toMoney } from "./decimal.ts";
import { createModelResolver, isLibraryProvider, priceAt } from "./model-resolution.ts";
import { shippedOverlay, type PriceOverlay } from "./price-overlay.ts";
import { priceUsage } from "./price-plan.ts";
import { inForce, type ModelPriceEntry, type PricingConfig, type TenantDiscount } from "./pricing-config.ts";

// The package does not export its package.json; read it beside its entry point.
const libEntry = createRequire(import.meta.url).resolve("@pydantic/genai-prices");
const libVersion: string = JSON.parse(readFileSync(path.join(path.dirname(libEntry), "..", "package.json"), "utf8")).version;

export const libraryPriceSource = { name: "genai-prices", version: libVersion } as const;

/** A configured entry that came from the price catalog, named so the ledger says so. */
export type CatalogPricedEntry = ModelPriceEntry & { origin?: { source: string; version: string } };

export interface LlmPriceRequest {
  /** Empty: inferred from the model id ("openai/gpt-4o") or the one provider that prices it. */
  provider: string;
  model: string;
  usage: Record<string, number>;
  at: Date;
  tenant?: string;
  batch?: boolean;
}

export type LlmPriceResult =
  | {
      priced: true;
      costUsd: string;
      provider: string;
      model: string;
      components: PriceComponent[];
      source: string;
      version: string;
    }
  | {
      priced: false;
      reason: "unknown_model" | "unknown_provider";
      provider: string;
      model: string;
      source: string;
      version: string;
    };

const key = (provider: string, model: string) => `${provider.toLowerCase()}\u0000${model.toLowerCase()}`;

export function createLlmPricer(pricing: PricingConfig, overlay: PriceOverlay = shippedOverlay()) {
  const resolve = createModelResolver(10_000, overlay.models);
  const ownProviders = new Set([...pricing.models.map((m) => m.provider), ...pricing.aliases.map((a) => a.provider)]);
  const knownProvider = (p: string) => ownProviders.has(p.toLowerCase()) || isLibraryProvider(p);
  const aliases = new Map(pricing.aliases.map((a) => [key(a.provider, a.model), a.to]));
  const configured = groupBy(pricing.models, (e) => key(e.provider, e.model));
  const discounts = groupBy(pricing.tenantDiscounts, (d) => d.tenant);

  /** The configured entries that may price this model, most specific key first. */
  function configuredPrice(entries: ModelPriceEntry[], tenant: string | undefined, at: Date): ModelPriceEntry | undefined {
    const own = tenant
      ? inForce(
          entries.filter((e) => e.tenant === tenant),
          at,
        )
      : undefined;
    return (
      own ??
      inForce(
        entries.filter((e) => e.tenant === undefined),
        at,
      )
    );
  }

  interface Target {
    provider: string;
    model: string;
    resolved: ReturnType<typeof resolve>;
    configured: ModelPriceEntry[][];
    unknownProvider: boolean;
    /** Whether the shipped overlay touches this model at all: most models skip it per event. */
    corrected: boolean;
    overlayModel: boolean;
  }
  const targets = new Map<string, Target>();
  /** Alias, library resolution and configured entries for a (provider, model) pair, worked out once. */
  function targetOf(reqProvider: string, reqModel: string): Target {
    const k = key(reqProvider, reqModel);
    let t = targets.get(k);
    if (t) return t;
    const alias = aliases.get(k);
    const provider = alias?.provider ?? reqProvider;
    const model = alias?.model ?? reqModel;
    const unknownProvider = provider.trim() !== "" && !knownProvider(provider);
    const resolved = unknownProvider ? null : resolve(provider, model);
    const keys = [key(provider, model)];
    if (resolved) keys.push(key(resolved.provider.id, resolved.model.id));
    t = {
      provider,
      model,
      resolved,
      unknownProvider,
      corrected: resolved ? overlay.correctionsFor(resolved.provider.id, resolved.model.id).length > 0 : false,
      overlayModel: resolved ? overlay.models.some((m) => m.model === resolved.model) : false,
      configured: keys.map((x) => configured.get(x)).filter((x): x is ModelPriceEntry[] => x !== undefined),
    };
    if (targets.size >= 10_000) targets.clear();
    targets.set(k, t);
    return t;
  }

  function tenantDiscount(tenant: string | undefined, provider: string, model: string, at: Date): TenantDiscount | undefined {
    const list = tenant ? discounts.get(tenant) : undefined;
    if (!list) return undefined;
    const applicable = list.filter((d) => (!d.provider || d.provider === provider) && (!d.model || d.model === model.toLowerCase()));
    // The most specific rule wins: model over provider over tenant-wide.
    const rank = (d: TenantDiscount) => (d.model ? 2 : 0) + (d.provider ? 1 : 0);
    const best = Math.max(-1, ...applicable.map(rank));
    return inForce(
      applicable.filter((d) => rank(d) === best),
      at,
    );
  }

  return function priceLlm(req: LlmPriceRequest): LlmPriceResult {
    const {
      provider,
      model,
      resolved,
      unknownProvider,
      corrected,
      overlayModel,
      configured: candidates,
    } = targetOf(req.provider, req.model);
    let entry: ModelPriceEntry | undefined;
    for (const entries of candidates) if ((entry = configuredPrice(entries, req.tenant, req.at))) break;

    const outProvider = resolved?.provider.id ?? provider;
    const outModel = resolved?.model.id ?? model;
    let base: { costUsd: string; components: PriceComponent[] };
    let source: string;
    let version: string;
    if (entry) {
      base = priceUsage(req.usage, entry.prices);
      const origin = (entry as CatalogPricedEntry).origin;
      source = `${origin?.source ?? "config"}${entry.tenant ? ":tenant" : ""}`;
      version = origin?.version ?? entry.from.toISOString().slice(0, 10);
    } else if (resolved) {
      const libraryPrice = priceAt(resolved.model, req.at);
      const fixed = corrected ? overlay.apply(outProvider, outModel, req.at, libraryPrice) : { price: libraryPrice, applied: [] };
      base = priceUsage(req.usage, fixed.price);
      const fromOverlay = fixed.applied.length > 0 || overlayModel;
      source = fromOverlay ? "overlay" : libraryPriceSource.name;
      version = fromOverlay ? `${overlay.version}+genai-prices@${libraryPriceSource.version}` : libraryPriceSource.version;
    } else {
      return {
        priced: false,
        reason: unknownProvider ? "unknown_provider" : "unknown_model",
        provider,
        model,
        source: libraryPriceSource.name,
        version: libraryPriceSource.version,
      };
    }

    const multiplier = req.batch ? (pricing.batchMultipliers[outProvider] ?? pricing.batchMultipliers[provider.toLowerCase()]) : undefined;
    const discount = req.tenant
      ? (tenantDiscount(req.tenant, outProvider, outModel, req.at) ?? tenantDiscount(req.tenant, provider.toLowerCase(), model, req.at))
      : undefined;
    // Most calls have neither: the usage cost stands as priced (already at ledger scale).
    if (multiplier === undefined && !discount)
      return { priced: true, costUsd: base.costUsd, provider: outProvider, model: outModel, components: base.components, source, version };
    const components = [...base.components];
    let total = new Decimal(base.costUsd);
    if (multiplier !== undefined) {
      const off = new Decimal(toMoney(total.times(new Decimal(1).minus(multiplier)))).negated();
      components.push({ unit: "batch_discount", quantity: "1", unit_price: multiplier, per: 1, amount_usd: off.toFixed() });
      total = total.plus(off);
    }
    if (discount) {
      const off = new Decimal(toMoney(total.times(discount.discount))).negated();
      components.push({ unit: "tenant_discount", quantity: "1", unit_price: discount.discount, per: 1, amount_usd: off.toFixed() });
      total = total.plus(off);
    }
    return { priced: true, costUsd: toMoney(total), provider: outProvider, model: outModel, components, source, version };
  };
}
