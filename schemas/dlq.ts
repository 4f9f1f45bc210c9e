// A dead-letter record, published on `<prefix>.dlq.<stage>`: what failed, why,
// and the original bytes so it can be inspected and retried. Fields are only
// ever added, as optional ones, so records written by an older version stay
// readable by `costline dlq`.
import * as z from "zod";
import { isoTime } from "./common.ts";

export const dlqReasons = [
  "validation",
  "not_json",
  "oversized",
  "unknown_type",
  "invalid_usage",
  "amount_out_of_range",
  "too_many_decimals",
  "poison",
  "timeout",
  "unavailable",
  "delivery_failed",
  "tenant_mismatch",
] as const;

export const dlqRecordSchema = z.object({
  stage: z.string(),
  reason: z.enum(dlqReasons),
  detail: z.string(),
  subject: z.string(),
  stream: z.string(),
  stream_seq: z.number().int().nonnegative(),
  /** Index of the event inside a batch message, when one event of a batch failed. */
  batch_index: z.number().int().nonnegative().optional(),
  event_id: z.string().optional(),
  source: z.string().optional(),
  /** The tenant, trace and request of the failed event, when its message names them (for filtering and for logs). */
  tenant: z.string().optional(),
  trace_id: z.string().optional(),
  request_id: z.string().optional(),
  deliveries: z.number().int().nonnegative(),
  failed_at: isoTime,
  /** The original message (or the failing batch element), base64 so any bytes survive. */
  payload_b64: z.string(),
  payload_bytes: z.number().int().nonnegative(),
  payload_truncated: z.boolean(),
});
export type DlqRecord = z.infer<typeof dlqRecordSchema>;
