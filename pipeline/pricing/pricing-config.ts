// The pricing part of the config file, validated with zod: Batch API
// multipliers, model aliases (Azure deployment names), custom and overriding
// model prices with effective dates, per-tenant discounts, and rate cards for
// infra and vector-database usage. Every price is a decimal string.
import * as z from "zod";
import { unitByPriceKey } from "./units.ts";

const decimal = z.string().regex(/^\d{1,12}(\.\d{1,18})?$/, 'a non-negative decimal string such as "2.50"');
const fraction = decimal.refine((v) => Number(v) <= 1, "a fraction between 0 and 1");
/** "2026-12-01" or a full ISO time; a bare date means midnight UTC. */
const instant = z
  .string()
  .refine((v) => /^\d{4}-\d{2}-\d{2}(T.*)?$/.test(v) && !Number.isNaN(Date.parse(v)), "an ISO date or time")
  .transform((v) => new Date(/T/.test(v) ? v : `${v}T00:00:00Z`));

const effective = { from: instant.prefault("1970-01-01"), to: instant.optional() };

const tieredPrice = z.object({
  base: decimal,
  tiers: z.array(z.object({ start: z.number().int().nonnegative(), price: decimal })).min(1),
});

export const priceSetSchema = z.record(z.string(), z.union([decimal, tieredPrice])).superRefine((prices, ctx) => {
  for (const key of Object.keys(prices))
    if (!unitByPriceKey.has(key))
      ctx.addIssue({ code: "custom", message: `unknown price key "${key}" (e.g. input_mtok, cache_read_mtok, output_mtok)`, path: [key] });
  if (Object.keys(prices).length === 0) ctx.addIssue({ code: "custom", message: "at least one price" });
});

export const modelPriceEntrySchema = z.object({
  provider: z
    .string()
    .min(1)
    .transform((s) => s.toLowerCase()),
  model: z
    .string()
    .min(1)
    .transform((s) => s.toLowerCase()),
  /** Only this tenant pays this price (a negotiated rate); absent: everyone. */
  tenant: z.string().min(1).optional(),
  ...effective,
  prices: priceSetSchema,
});
export type ModelPriceEntry = z.infer<typeof modelPriceEntrySchema>;

export const aliasSchema = z.object({
  provider: z
    .string()
    .min(1)
    .transform((s) => s.toLowerCase()),
  model: z
    .string()
    .min(1)
    .transform((s) => s.toLowerCase()),
  to: z.object({ provider: z.string().min(1), model: z.string().min(1) }),
});

export const tenantDiscountSchema = z.object({
  tenant: z.string().min(1),
  provider: z
    .string()
    .min(1)
    .transform((s) => s.toLowerCase())
    .optional(),
  model: z
    .string()
    .min(1)
    .transform((s) => s.toLowerCase())
    .optional(),
  /** The share taken off, "0.15" for 15 %. */
  discount: fraction,
  ...effective,
});
export type TenantDiscount = z.infer<typeof tenantDiscountSchema>;

/** USD per one unit of a currency, in force over [from, to): converts producer amounts in that currency. */
const fxRate = z.object({
  currency: z.string().regex(/^[A-Z]{3}$/, "an ISO 4217 code such as EUR"),
  usd_per_unit: decimal.refine((v) => Number(v) > 0, "greater than zero"),
  ...effective,
  source: z.string().max(2000).optional(),
});
export type FxRate = z.infer<typeof fxRate>;

export const pricingConfigSchema = z.object({
  /** What a Batch API call costs relative to the list price, per provider. */
  batchMultipliers: z
    .record(z.string(), fraction)
    .default({ openai: "0.5", anthropic: "0.5", google: "0.5", aws: "0.5", azure: "0.5", mistral: "0.5" }),
  aliases: z.array(aliasSchema).default([]),
  models: z.array(modelPriceEntrySchema).default([]),
  tenantDiscounts: z.array(tenantDiscountSchema).default([]),
  /** Exchange rates with effective dates, for `costline.cost` and `costline.revenue` amounts not in USD. */
  fxRates: z.array(fxRate).default([]),
});
export type PricingConfig = z.infer<typeof pricingConfigSchema>;

const infraRate = z.object({
  resource: z.enum(["cpu", "memory", "gpu", "storage", "network"]),
  unit: z.enum(["core_second", "gib_second", "gpu_second", "gib_month", "gib"]),
  price: decimal,
  ...effective,
});
const vectordbRate = z.object({
  /** A vector-database provider, or "default" for any other. */
  provider: z
    .string()
    .min(1)
    .transform((s) => s.toLowerCase()),
  read_unit: decimal,
  write_unit: decimal,
  storage_gib_month: decimal.default("0"),
  ...effective,
});
export type InfraRate = z.infer<typeof infraRate>;
export type VectordbRate = z.infer<typeof vectordbRate>;

export const rateCardsSchema = z.object({
  infra: z.array(infraRate).prefault([
    { resource: "cpu", unit: "core_second", price: "0.0000115", from: "1970-01-01" },
    { resource: "memory", unit: "gib_second", price: "0.0000013", from: "1970-01-01" },
    { resource: "gpu", unit: "gpu_second", price: "0.000611", from: "1970-01-01" },
    { resource: "storage", unit: "gib_month", price: "0.08", from: "1970-01-01" },
    { resource: "network", unit: "gib", price: "0.09", from: "1970-01-01" },
  ]),
  vectordb: z
    .array(vectordbRate)
    .prefault([{ provider: "default", read_unit: "0.00000825", write_unit: "0.000002", storage_gib_month: "0.33", from: "1970-01-01" }]),
});
export type RateCards = z.infer<typeof rateCardsSchema>;

/** The entry in force at `at`: within [from, to), the latest `from` winning. */
export function inForce<T extends { from: Date; to?: Date }>(entries: readonly T[], at: Date): T | undefined {
  let best: T | undefined;
  for (const e of entries) if (e.from <= at && (!e.to || at < e.to) && (!best || e.from > best.from)) best = e;
  return best;
}
