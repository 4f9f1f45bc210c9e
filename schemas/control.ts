// A cost control as stored in the costline-controls KV bucket, one per scope:
// closed (normal) → throttled (rate limits) → degraded (a cheaper model) →
// open (paused until a time). Written by the detector, the budgets and
// operators; read by every producer's guard.
import * as z from "zod";
import { isoTime } from "./common.ts";

// The bounds of the events' attribution keys: a scope names what events can carry,
// and its KV key (the escaped values) stays far below NATS's limit on a subject line.
export const controlScopeSchema = z.object({
  tenant: z.string().min(1).max(128),
  persona_id: z.string().min(1).max(256).optional(),
  feature: z.string().min(1).max(256).optional(),
  user_id: z.string().min(1).max(256).optional(),
  model: z.string().min(1).max(256).optional(),
});
export type ControlScope = z.infer<typeof controlScopeSchema>;

export const controlSchema = z.object({
  scope: controlScopeSchema,
  state: z.enum(["closed", "throttled", "degraded", "open"]),
  throttle: z
    .object({
      requests_per_minute: z.number().int().positive().optional(),
      tokens_per_minute: z.number().int().positive().optional(),
    })
    .optional(),
  /** Degraded: requested model → the model to use instead. */
  model_map: z.record(z.string(), z.string()).optional(),
  /** Open: paused until this time; after it, one probe request per `probe_every_s` is let through (half-open). */
  paused_until: isoTime.optional(),
  probe_every_s: z.number().int().positive().default(30),
  reason: z.string().max(500),
  set_by: z.string().max(200),
  set_at: isoTime,
  /** A manual override ends at this time and the control no longer applies. */
  expires_at: isoTime.optional(),
});
export type Control = z.infer<typeof controlSchema>;
