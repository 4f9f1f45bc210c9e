// Notifications: the routing configuration (channels, the route tree,
// inhibition, retries) read from the COSTLINE_CONFIG file, silences as stored
// in the costline-silences KV bucket, the per-(alert, channel) delivery state
// in the costline-notify bucket, the delivery log record, and the body a
// generic webhook receives.
import * as z from "zod";
import { regexHazard } from "./regex-safety.ts";
import { isoTime } from "./common.ts";
import { alertSchema } from "./alert.ts";

// ---- durations and matchers -------------------------------------------------

const durationUnits = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** "500ms", "30s", "5m", "4h", "7d", or a number of seconds; parsed to milliseconds. */
export const durationSchema = z
  .union([z.number().nonnegative(), z.string().regex(/^\d+(\.\d+)?(ms|s|m|h|d)$/, 'a duration such as "500ms", "30s", "5m", "4h" or "7d"')])
  .transform((v) => {
    if (typeof v === "number") return Math.round(v * 1000);
    const [, n, unit] = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/.exec(v)!;
    return Math.round(Number(n) * durationUnits[unit as keyof typeof durationUnits]);
  });

export const matcherOps = ["=", "!=", "=~", "!~"] as const;

/** One condition on an alert label: equality, inequality, or an anchored regular expression. */
export const matcherSchema = z
  .object({
    name: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "a label name such as tenant or severity"),
    op: z.enum(matcherOps),
    value: z.string().max(1000),
  })
  .superRefine((m, ctx) => {
    if (m.op === "=~" || m.op === "!~") {
      try {
        new RegExp(m.value);
        const hazard = regexHazard(m.value);
        if (hazard) ctx.addIssue({ code: "custom", message: `regular expression refused: ${hazard}`, path: ["value"] });
      } catch (err) {
        ctx.addIssue({ code: "custom", message: `invalid regular expression: ${(err as Error).message}`, path: ["value"] });
      }
    }
  });
export type Matcher = z.infer<typeof matcherSchema>;

const MATCHER_TEXT = /^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*(.*?)\s*$/;

/** Parses `tenant=acme`, `severity!=info`, `type=~"spike|creep"` (quotes optional). */
export function parseMatcherText(text: string): { name: string; op: Matcher["op"]; value: string } | undefined {
  const m = MATCHER_TEXT.exec(text);
  if (!m) return undefined;
  let value = m[3]!;
  if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1).replace(/\\"/g, '"');
  return { name: m[1]!, op: m[2] as Matcher["op"], value };
}

/** A matcher as text (`tenant=acme`) or as an object; always an object after parsing. */
export const matcherInputSchema = z
  .union([z.string(), z.object({ name: z.string(), op: z.enum(matcherOps), value: z.string() })])
  .transform((v, ctx) => {
    const parsed = typeof v === "string" ? parseMatcherText(v) : v;
    if (!parsed) {
      ctx.addIssue({
        code: "custom",
        message: `"${String(v)}" is not a matcher such as tenant=acme, severity!=info or type=~"spike|creep"`,
      });
      return z.NEVER;
    }
    return parsed;
  })
  .pipe(matcherSchema);

// ---- configuration (the "notify" section of the COSTLINE_CONFIG file) ----------

/** A secret given inline, or the name of the environment variable that holds it. */
export const secretSchema = z.union([
  z.string().min(1),
  z.object({ env: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "an environment variable name") }).strict(),
]);
export type SecretRef = z.infer<typeof secretSchema>;

export const channelNameSchema = z.string().regex(/^[a-z0-9][a-z0-9_-]{0,63}$/, "lowercase letters, digits, _ and - (at most 64)");

const channelCommon = {
  /** Send resolved alerts to this channel (only for alerts it was told were firing). */
  send_resolved: z.boolean().default(true),
  /**
   * The process died after sending and before recording the answer: send
   * again with the same idempotency key ("resend", at-least-once in that
   * window), or give up and dead-letter it ("skip", at-most-once).
   */
  on_uncertain: z.enum(["resend", "skip"]).default("resend"),
};

export const slackChannelSchema = z.object({ type: z.literal("slack"), url: secretSchema, ...channelCommon }).strict();
export const pagerdutyChannelSchema = z
  .object({
    type: z.literal("pagerduty"),
    routing_key: secretSchema,
    url: z.url().default("https://events.pagerduty.com/v2/enqueue"),
    ...channelCommon,
  })
  .strict();
export const webhookChannelSchema = z
  .object({
    type: z.literal("webhook"),
    url: secretSchema,
    /** HMAC-SHA256 key: the signature covers "<timestamp>.<body>". */
    secret: secretSchema.optional(),
    headers: z.record(z.string(), z.string()).default({}),
    ...channelCommon,
  })
  .strict();
export const emailChannelSchema = z
  .object({
    type: z.literal("email"),
    smtp: z
      .object({
        /** smtp://user:pass@host:587 or smtps://…; or host/port below. */
        url: secretSchema.optional(),
        host: z.string().min(1).optional(),
        port: z.number().int().min(1).max(65535).default(587),
        /** TLS from the start (port 465); otherwise STARTTLS when the server offers it. */
        secure: z.boolean().default(false),
        user: secretSchema.optional(),
        password: secretSchema.optional(),
      })
      .strict()
      .refine((s) => s.url || s.host, "smtp needs a url or a host"),
    from: z.string().min(3),
    to: z.array(z.string().min(3)).min(1),
    ...channelCommon,
  })
  .strict();

export const channelSchema = z.discriminatedUnion("type", [
  slackChannelSchema,
  pagerdutyChannelSchema,
  webhookChannelSchema,
  emailChannelSchema,
]);
export type ChannelConfig = z.infer<typeof channelSchema>;

const timing = {
  /** Labels whose values form a group: one notification per group and channel. */
  group_by: z.array(z.string().min(1)).optional(),
  /** How long a new group collects alerts before its first notification. */
  group_wait: durationSchema.optional(),
  /** The least time between two notifications of one group. */
  group_interval: durationSchema.optional(),
  /** A still-firing alert (same fingerprint, not more severe) is notified again on a channel at most this often. */
  repeat_interval: durationSchema.optional(),
};

/** A node of the route tree, as parsed (durations in milliseconds). */
export interface RouteConfig {
  matchers: Matcher[];
  /** Channels this node sends to; absent: the parent's. */
  channels?: string[];
  /** Keep looking at the following sibling routes after this one matched. */
  continue: boolean;
  group_by?: string[];
  group_wait?: number;
  group_interval?: number;
  repeat_interval?: number;
  routes: RouteConfig[];
}

export const routeSchema: z.ZodType<RouteConfig, unknown> = z.lazy(() =>
  z
    .object({
      matchers: z.array(matcherInputSchema).default([]),
      channels: z.array(channelNameSchema).optional(),
      continue: z.boolean().default(false),
      ...timing,
      routes: z.array(routeSchema).default([]),
    })
    .strict(),
);

export const inhibitRuleSchema = z
  .object({
    /** A firing alert matching these… */
    source: z.array(matcherInputSchema).min(1),
    /** …mutes firing alerts matching these… */
    target: z.array(matcherInputSchema).min(1),
    /** …when these labels are equal on both. */
    equal: z.array(z.string().min(1)).default(["tenant", "scope", "scope_id"]),
  })
  .strict();
export type InhibitRule = z.infer<typeof inhibitRuleSchema>;

export const retrySchema = z
  .object({
    /** Attempts per delivery, the first included. */
    attempts: z.number().int().min(1).max(50).default(6),
    initial: durationSchema.prefault("500ms"),
    max: durationSchema.prefault("30s"),
    /** A 429 asking to wait longer than this ends the retries (dead-lettered). */
    max_retry_after: durationSchema.prefault("5m"),
    /** One request's time limit. */
    timeout: durationSchema.prefault("10s"),
  })
  .strict();

export const linkTemplateSchema = z
  .object({
    text: z.string().min(1).max(100),
    /** {tenant}, {type}, {severity}, {fingerprint}, {scope}, {window_start}, {window_end} and scope labels are filled in (URL-encoded). */
    url: z.string().min(1),
  })
  .strict();

export const notifyFileSchema = z
  .object({
    channels: z.record(channelNameSchema, channelSchema).default({}),
    /** The root of the route tree; absent: the default severity routing over the configured channels. */
    route: routeSchema.optional(),
    /** Absent: a critical alert mutes lower ones on the same scope. */
    inhibit: z.array(inhibitRuleSchema).optional(),
    /** A firing alert inhibits others until it resolves, or at most this long after it was last seen. */
    inhibit_max_age: durationSchema.prefault("2h"),
    retry: retrySchema.prefault({}),
    links: z.array(linkTemplateSchema).default([]),
  })
  .strict();
export type NotifyFileConfig = z.infer<typeof notifyFileSchema>;

// ---- silences ---------------------------------------------------------------------

export const silenceSchema = z.object({
  id: z.string().min(1).max(64),
  matchers: z.array(matcherSchema).min(1),
  starts_at: isoTime,
  ends_at: isoTime,
  comment: z.string().max(1000),
  created_by: z.string().max(200),
  created_at: isoTime,
  /** Set when someone expired the silence before its end. */
  expired_by: z.string().max(200).optional(),
});
export type Silence = z.infer<typeof silenceSchema>;

/** The body of POST /v1/silences (and `costline silences add`). */
export const silenceInputSchema = z
  .object({
    matchers: z.array(matcherInputSchema).min(1),
    starts_at: isoTime.optional(),
    ends_at: isoTime.optional(),
    /** Instead of ends_at: how long from starts_at (or now). */
    duration: durationSchema.optional(),
    comment: z.string().min(1).max(1000),
  })
  .strict()
  .refine((s) => (s.ends_at === undefined) !== (s.duration === undefined), "give ends_at or duration (one of them)");
export type SilenceInput = z.infer<typeof silenceInputSchema>;

// ---- delivery state (KV) and delivery log (ClickHouse) ---------------------------------

/** Per (alert, channel): claimed before sending, settled after; its revision guards every change. */
export const deliveryStateSchema = z.object({
  state: z.enum(["sending", "delivered", "failed", "suppressed"]),
  notification_id: z.string(),
  /** The process holding the claim and until when; another process may take over after it. */
  owner: z.string(),
  lease_until: z.number(),
  /** Attempts started, the one in flight included. */
  attempts: z.number().int().nonnegative(),
  reason: z.string().default(""),
  updated_at: isoTime,
});
export type DeliveryState = z.infer<typeof deliveryStateSchema>;

/** Per (fingerprint, channel): what the channel was last told, for repeat intervals and resolves. */
export const fingerprintStateSchema = z.object({
  status: z.enum(["firing", "resolved"]),
  severity: z.string(),
  alert_id: z.string(),
  notified_at: z.number(),
});
export type FingerprintState = z.infer<typeof fingerprintStateSchema>;

/** A firing alert that may inhibit others, as kept in the costline-notify bucket. */
export const inhibitorSchema = z.object({
  fingerprint: z.string(),
  status: z.enum(["firing", "resolved"]),
  labels: z.record(z.string(), z.string()),
  detected_at: isoTime,
  seen_at: z.number(),
});
export type Inhibitor = z.infer<typeof inhibitorSchema>;

export const deliveryResults = ["delivered", "retried", "failed", "suppressed"] as const;

/** One row of costline.notification_log: one attempt (or one suppression) of one alert on one channel. */
export const deliveryRecordSchema = z.object({
  attempted_at: isoTime,
  notification_id: z.string(),
  alert_id: z.string(),
  fingerprint: z.string(),
  tenant: z.string(),
  type: z.string(),
  severity: z.string(),
  status: z.enum(["firing", "resolved"]),
  channel: z.string(),
  channel_type: z.string(),
  attempt: z.number().int().nonnegative(),
  result: z.enum(deliveryResults),
  /** Why: the suppression (silenced:<id>, inhibited:<fingerprint>, repeat_interval, not_notified), or the channel's error. */
  reason: z.string(),
  http_status: z.number().int().nullable(),
  /** Alert published → the receiver's 2xx (delivered rows only). */
  latency_ms: z.number().int().nullable(),
});
export type DeliveryRecord = z.infer<typeof deliveryRecordSchema>;

// ---- what a generic webhook receives ------------------------------------------------------

/**
 * POSTed as JSON with headers X-Costline-Timestamp (unix seconds),
 * X-Costline-Signature ("v1=" + hex HMAC-SHA256 of "<timestamp>.<body>") and
 * Idempotency-Key (the notification id: the same on every retry and resend).
 */
export const webhookPayloadSchema = z.object({
  version: z.literal("1"),
  notification_id: z.string(),
  channel: z.string(),
  group_key: z.string(),
  group_labels: z.record(z.string(), z.string()),
  status: z.enum(["firing", "resolved"]),
  alerts: z.array(alertSchema),
  sent_at: isoTime,
});
export type WebhookPayload = z.infer<typeof webhookPayloadSchema>;
