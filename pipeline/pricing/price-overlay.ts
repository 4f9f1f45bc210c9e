// Corrections to the bundled @pydantic/genai-prices data, shipped in the repo
// (pipeline/pricing/corrections/price-corrections.json), each with its source
// and the dates it is in force. Three kinds:
//   replace: the library's price for a model is wrong from a date (DeepSeek);
//   patch:   some price keys are missing or wrong (a long-context tier);
//   derive:  a key is missing on many models and follows a rule (1-hour cache
//            writes at 2× input on Bedrock and Vertex).
// The overlay also adds models the library resolves to the wrong entry
// (Titan Embeddings V2), matched by an anchored pattern before the library.
import { readFileSync } from "node:fs";
import type { ModelInfo } from "@pydantic/genai-prices";
import * as z from "zod";
import { ConfigError } from "../errors.ts";
import { packagePath } from "../package-root.ts";
import { Decimal } from "./decimal.ts";
import type { AnyModelPrice, AnyPrice } from "./price-plan.ts";
import { priceSetSchema } from "./pricing-config.ts";

export const overlayPath = packagePath("pipeline", "pricing", "corrections", "price-corrections.json");

const instant = z
  .string()
  .refine((v) => !Number.isNaN(Date.parse(/T/.test(v) ? v : `${v}T00:00:00Z`)), "an ISO date or time")
  .transform((v) => new Date(/T/.test(v) ? v : `${v}T00:00:00Z`));
const source = z.string().min(8, "every correction names its source");

const overlayModel = z.object({
  id: z.string().min(1),
  provider: z.string().min(1),
  /** An anchored regular expression on the model id as sent (case-insensitive). */
  match: z.string().min(2),
  prices: priceSetSchema,
  source,
  note: z.string().optional(),
});

const correction = z
  .object({
    id: z.string().min(1),
    provider: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]).transform((p) => (Array.isArray(p) ? p : [p])),
    /** Library model ids this applies to, exactly; or `model_match`, a pattern on them. */
    models: z.array(z.string().min(1)).optional(),
    model_match: z.string().optional(),
    mode: z.enum(["replace", "patch", "derive"]),
    from: instant,
    to: instant.optional(),
    prices: priceSetSchema.optional(),
    derive: z.object({ price_key: z.string(), from_key: z.string(), factor: z.string().regex(/^\d+(\.\d+)?$/) }).optional(),
    source,
    note: z.string().optional(),
  })
  .superRefine((c, ctx) => {
    if (!c.models && !c.model_match) ctx.addIssue({ code: "custom", message: "models or model_match" });
    if (c.mode === "derive" ? !c.derive : !c.prices)
      ctx.addIssue({ code: "custom", message: `${c.mode} needs ${c.mode === "derive" ? "derive" : "prices"}` });
  });

export const overlaySchema = z.object({
  version: z.string().min(1),
  comment: z.string().optional(),
  models: z.array(overlayModel).default([]),
  corrections: z.array(correction).default([]),
});
export type PriceOverlayFile = z.infer<typeof overlaySchema>;
export type PriceCorrection = z.infer<typeof correction>;

export interface OverlayModel {
  provider: string;
  model: ModelInfo;
  pattern: RegExp;
  source: string;
}

export interface PriceOverlay {
  version: string;
  /** Models the overlay adds, tried before the library's matching. */
  models: OverlayModel[];
  /** The corrections for a (provider, library model) pair, whatever their dates. */
  correctionsFor(provider: string, model: string): PriceCorrection[];
  /** The library price with every correction in force at `at` applied, and the ids of those corrections. */
  apply(provider: string, model: string, at: Date, price: AnyModelPrice): { price: AnyModelPrice; applied: string[] };
  file: PriceOverlayFile;
}

export function parseOverlay(raw: unknown, origin = "price overlay"): PriceOverlay {
  const parsed = overlaySchema.safeParse(raw);
  if (!parsed.success)
    throw new ConfigError(`${origin}: ${parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`);
  return createOverlay(parsed.data);
}

let shipped: PriceOverlay | undefined;
/** The corrections shipped with costline, read once. */
export function shippedOverlay(): PriceOverlay {
  return (shipped ??= parseOverlay(JSON.parse(readFileSync(overlayPath, "utf8")), overlayPath));
}

const modeOrder = { replace: 0, patch: 1, derive: 2 } as const;

function createOverlay(file: PriceOverlayFile): PriceOverlay {
  const models: OverlayModel[] = file.models.map((m) => ({
    provider: m.provider.toLowerCase(),
    pattern: new RegExp(m.match, "i"),
    source: m.source,
    model: { id: m.id, match: { regex: m.match }, prices: m.prices as unknown as ModelInfo["prices"] },
  }));
  const byPair = new Map<string, PriceCorrection[]>();
  const merged = new WeakMap<object, Map<string, AnyModelPrice>>();

  function correctionsFor(provider: string, model: string): PriceCorrection[] {
    const key = `${provider}\u0000${model}`;
    let list = byPair.get(key);
    if (!list) {
      list = file.corrections
        .filter((c) => c.provider.includes(provider))
        .filter((c) => c.models?.includes(model) || (c.model_match !== undefined && new RegExp(c.model_match, "i").test(model)))
        .sort((a, b) => modeOrder[a.mode] - modeOrder[b.mode] || a.from.getTime() - b.from.getTime());
      if (byPair.size > 10_000) byPair.clear();
      byPair.set(key, list);
    }
    return list;
  }

  function apply(provider: string, model: string, at: Date, price: AnyModelPrice) {
    const inForce = correctionsFor(provider, model).filter((c) => c.from <= at && (!c.to || at < c.to));
    if (inForce.length === 0) return { price, applied: [] };
    // Of several replacements in force, the latest start wins.
    const replace = inForce.filter((c) => c.mode === "replace").at(-1);
    const rest = inForce.filter((c) => c.mode !== "replace");
    const applied = [...(replace ? [replace] : []), ...rest];
    const key = applied.map((c) => c.id).join(",");
    // One merged object per (library price, corrections): the price plan is cached per object.
    let cache = merged.get(price);
    if (!cache) merged.set(price, (cache = new Map()));
    let out = cache.get(key);
    if (!out) {
      let p: Record<string, AnyPrice | undefined> = { ...(replace ? replace.prices! : price) };
      for (const c of rest) {
        if (c.mode === "patch") p = { ...p, ...c.prices };
        else if (c.derive && p[c.derive.price_key] === undefined && p[c.derive.from_key] !== undefined)
          p[c.derive.price_key] = scale(p[c.derive.from_key]!, c.derive.factor);
      }
      out = p;
      cache.set(key, out);
    }
    return { price: out, applied: applied.map((c) => c.id) };
  }

  return { version: file.version, models, correctionsFor, apply, file };
}

function scale(price: AnyPrice, factor: string): AnyPrice {
  const times = (v: number | string) => new Decimal(String(v)).times(factor).toFixed();
  if (typeof price === "number" || typeof price === "string") return times(price);
  return { base: times(price.base), tiers: price.tiers.map((t) => ({ start: t.start, price: times(t.price) })) };
}
