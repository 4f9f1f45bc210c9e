// A tumbling event-time window aggregate, published on `<prefix>.windows.<scope>`
// for the detector.
import * as z from "zod";
import { decimalString, isoTime } from "./common.ts";

export const windowScopes = [
  "tenant",
  "tenant_model",
  "tenant_persona",
  "tenant_feature",
  "tenant_operation",
  "tenant_user",
  "post",
] as const;

export const windowAggregateSchema = z.object({
  scope: z.enum(windowScopes),
  key: z.record(z.string(), z.string()),
  tenant: z.string().min(1),
  window_start: isoTime,
  window_end: isoTime,
  events: z.number().int().nonnegative(),
  unpriced_events: z.number().int().nonnegative(),
  cost_usd: decimalString,
  revenue_usd: decimalString,
  input_tokens: z.number().nonnegative(),
  output_tokens: z.number().nonnegative(),
  requests: z.number().int().nonnegative(),
  by_model: z.record(z.string(), decimalString).default({}),
  by_operation: z.record(z.string(), decimalString).default({}),
  /** The posts and users that cost the most in the window (top 5 each): an alert's likely cause. */
  top_posts: z.record(z.string(), decimalString).default({}),
  top_users: z.record(z.string(), decimalString).default({}),
  final: z.boolean(),
  emitted_at: isoTime,
});
export type WindowAggregate = z.infer<typeof windowAggregateSchema>;

/** What the windower publishes: the windows of one scope that changed or became final, as one array. */
export const windowBatchSchema = z.array(windowAggregateSchema).min(1);
