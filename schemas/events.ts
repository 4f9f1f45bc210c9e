// CloudEvents 1.0 envelopes (structured JSON mode) and the payload of every
// event type producers publish on `<prefix>.events.<tenant>`.
import * as z from "zod";
import { attributionShape, currencyCode, isoTime, shortText } from "./common.ts";
import { eventAmount } from "./money.ts";

/** Sanity bounds: no single event is this large, so a value above is a bug or an attack, not usage. */
export const MAX_TOKENS_PER_EVENT = 10_000_000_000;
export const MAX_QUANTITY = 1_000_000_000_000;

const count = z.number().finite().nonnegative().max(MAX_QUANTITY, `must be at most ${MAX_QUANTITY}`);
/** Tokens and requests are whole numbers. */
const tokens = z
  .number()
  .int("must be a whole number")
  .nonnegative()
  .max(MAX_TOKENS_PER_EVENT, `must be at most ${MAX_TOKENS_PER_EVENT} per event`);

/** Usage keys follow @pydantic/genai-prices; input_tokens counts all input, cached included. */
export const llmUsageSchema = z
  .object({
    input_tokens: tokens.optional(),
    output_tokens: tokens.optional(),
    cache_read_tokens: tokens.optional(),
    cache_write_tokens: tokens.optional(),
    input_audio_tokens: tokens.optional(),
    output_audio_tokens: tokens.optional(),
    requests: tokens.optional(),
  })
  .catchall(tokens);

export const llmUsagePayload = z.object({
  ...attributionShape,
  provider: shortText,
  /** The model that served the call, after fallbacks and downgrades: what is priced and what per-model budgets count. */
  model: shortText,
  /** The model the caller asked for, when it differs from `model` (a fallback, a downgrade, or the provider reporting a dated version). */
  requested_model: shortText.optional(),
  usage: llmUsageSchema,
  batch: z.boolean().default(false),
  latency_ms: count.optional(),
  status: z.string().max(64).optional(),
});

export const infraUsagePayload = z.object({
  ...attributionShape,
  resource: z.enum(["cpu", "memory", "gpu", "storage", "network"]),
  quantity: count,
  unit: z.enum(["core_second", "gib_second", "gpu_second", "gib_month", "gib"]),
  service: shortText,
  node: z.string().max(256).optional(),
});

export const vectordbUsagePayload = z.object({
  ...attributionShape,
  provider: shortText,
  operation: shortText,
  read_units: count.default(0),
  write_units: count.default(0),
  /** Storage held over the period the event covers, in GiB-months. */
  storage_gib_month: count.optional(),
});

export const revenuePayload = z.object({
  ...attributionShape,
  /** Negative: a refund or credit (docs/money-and-escaping.md). */
  amount: eventAmount,
  currency: currencyCode,
});

export const costPayload = z.object({
  ...attributionShape,
  /** Negative: a refund or credit (docs/money-and-escaping.md). */
  amount: eventAmount,
  currency: currencyCode,
  category: shortText,
});

const envelopeShape = {
  specversion: z.literal("1.0"),
  id: z
    .string()
    .min(1)
    .max(256)
    .regex(/^[^\s]+$/, "id must not contain white space"),
  source: z
    .string()
    .min(1)
    .max(512)
    .regex(/^[^\s]+$/, "source must not contain white space"),
  time: isoTime.optional(),
  subject: z.string().max(512).optional(),
  datacontenttype: z.string().max(128).optional(),
  dataschema: z.string().max(1024).optional(),
};

export const llmUsageEvent = z.object({ ...envelopeShape, type: z.literal("costline.llm.usage"), data: llmUsagePayload });
export const infraUsageEvent = z.object({ ...envelopeShape, type: z.literal("costline.infra.usage"), data: infraUsagePayload });
export const vectordbUsageEvent = z.object({
  ...envelopeShape,
  type: z.literal("costline.vectordb.usage"),
  data: vectordbUsagePayload,
});
export const revenueEvent = z.object({ ...envelopeShape, type: z.literal("costline.revenue"), data: revenuePayload });
export const costEvent = z.object({ ...envelopeShape, type: z.literal("costline.cost"), data: costPayload });

/** Any cost event; `type` selects the payload schema. */
export const costlineEvent = z.discriminatedUnion("type", [llmUsageEvent, infraUsageEvent, vectordbUsageEvent, revenueEvent, costEvent]);
export type CostlineEvent = z.infer<typeof costlineEvent>;
/** The event types the union accepts; schemas/event-kinds.ts has a row for each. */
export type EventType = CostlineEvent["type"];
export const eventTypes: readonly EventType[] = costlineEvent.options.map((o) => o.shape.type.value);
/** What a producer writes: defaults (batch, units) may be left out. */
export type CostlineEventInput = z.input<typeof costlineEvent>;

/** The envelope alone, to classify an event before its payload is checked. */
export const envelopeSchema = z.object({ ...envelopeShape, type: z.string().min(1).max(128), data: z.unknown() });
