// The priced, attributed event enrich publishes on `<prefix>.priced.<tenant>`:
// one ledger row to be. Money is decimal strings; cost_usd is null when unpriced.
import * as z from "zod";
import { attributionShape, decimalString, isoTime } from "./common.ts";
import { eventAmount } from "./money.ts";

import { ledgerKinds } from "./event-kinds.ts";

export const priceComponentSchema = z.object({
  unit: z.string(),
  quantity: z.string(),
  unit_price: decimalString,
  per: z.number().positive(),
  amount_usd: decimalString,
});
export type PriceComponent = z.infer<typeof priceComponentSchema>;

export const pricedEventSchema = z.object({
  event_id: z.string().min(1).max(256),
  source: z.string().min(1).max(512),
  type: z.string(),
  kind: z.enum(ledgerKinds),
  time: isoTime,
  ...attributionShape,
  provider: z.string().max(256).default(""),
  model: z.string().max(256).default(""),
  model_requested: z.string().max(256).default(""),
  category: z.string().max(256).default(""),
  usage: z.record(z.string(), z.number()).default({}),
  batch: z.boolean().default(false),
  latency_ms: z.number().nonnegative().optional(),
  status: z.string().max(64).optional(),
  /** Within the per-event bound (schemas/money.ts), so no ledger sum can overflow. */
  cost_usd: eventAmount.nullable(),
  revenue_usd: eventAmount.default("0"),
  priced: z.boolean(),
  unpriced_reason: z.string().max(256).optional(),
  price_source: z.string().max(128),
  price_version: z.string().max(128),
  /** The price catalog version (catalog rows, shipped overlay, bundled library) that priced this event. */
  catalog_version: z.string().max(256).optional(),
  components: z.array(priceComponentSchema).default([]),
  attribution_method: z.enum(["direct", "allocated", "unattributed"]),
  enriched_at: isoTime,
});
export type PricedEvent = z.infer<typeof pricedEventSchema>;

/** enrich publishes priced events in batches: one message per input message and tenant. */
export const pricedBatchSchema = z.array(pricedEventSchema).min(1);
