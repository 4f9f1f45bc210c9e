// Decodes one message from the events subject: a single CloudEvent or a JSON
// array of them. Each element is validated on its own, so one bad event in a
// batch does not sink the others.
import {
  amountProblem,
  amountProblemText,
  costlineEvent,
  envelopeSchema,
  eventKinds,
  eventTypes,
  type CostlineEvent,
  type EventType,
} from "../../schemas/index.ts";
import { PermanentError, formatIssues, type FailureReason } from "../errors.ts";
import { compileFastParse, type FastParse } from "../../schemas/fast-parse.ts";

export type Decoded = { ok: true; index: number; event: CostlineEvent } | { ok: false; index: number; error: PermanentError; raw: unknown };

export interface DecodeLimits {
  maxMessageBytes: number;
  maxBatchEvents: number;
}

/** Throws PermanentError for a message that is unusable as a whole; otherwise one result per element. */
export function decodeMessage(data: Uint8Array, limits: DecodeLimits): Decoded[] {
  if (data.byteLength > limits.maxMessageBytes)
    throw new PermanentError("oversized", `message is ${data.byteLength} bytes, over the ${limits.maxMessageBytes}-byte limit`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString("utf8"));
  } catch (err) {
    throw new PermanentError("not_json", `message is not JSON: ${(err as Error).message}`);
  }
  const items = Array.isArray(parsed) ? parsed : [parsed];
  if (items.length === 0) throw new PermanentError("validation", "empty batch");
  if (items.length > limits.maxBatchEvents)
    throw new PermanentError("oversized", `batch of ${items.length} events, over the ${limits.maxBatchEvents}-event limit`);
  return items.map((raw, index) => validateEvent(raw, index));
}

// The schema compiled into plain checks (schemas/fast-parse.ts: it accepts exactly what zod accepts), about
// twice as fast as zod on the event mix; compiled on first use, so a command that never decodes never pays for it.
let fastEvent: FastParse<CostlineEvent> | null | undefined;
const fastParse = () => (fastEvent === undefined ? (fastEvent = compileFastParse(costlineEvent) ?? null) : fastEvent);

export function validateEvent(raw: unknown, index = 0): Decoded {
  const fast = fastParse()?.(raw);
  if (fast?.ok) return { ok: true, index, event: fast.value };
  // Not valid (or not compiled): zod judges, and names the reason.
  const full = costlineEvent.safeParse(raw);
  if (full.success) return { ok: true, index, event: full.data };
  // Only a failure needs the slower classification.
  const envelope = envelopeSchema.safeParse(raw);
  if (!envelope.success) return { ok: false, index, raw, error: new PermanentError("validation", formatIssues(envelope.error)) };
  if (!(eventTypes as readonly string[]).includes(envelope.data.type))
    return {
      ok: false,
      index,
      raw,
      error: new PermanentError("unknown_type", `unknown event type "${envelope.data.type}" (expected one of ${eventTypes.join(", ")})`),
    };
  // An amount out of bounds gets its own reason, so an operator sees at once what to fix.
  if (full.error.issues.some((i) => i.path[0] === "data" && i.path[1] === "amount")) {
    const amount = (envelope.data.data as { amount?: unknown } | null)?.amount;
    const problem = amountProblem(amount);
    if (problem && problem !== "validation")
      return { ok: false, index, raw, error: new PermanentError(problem, amountProblemText(problem, amount)) };
  }
  // The kind's own reason for an invalid field (e.g. an LLM event's usage), else "validation".
  const reasons: Readonly<Record<string, FailureReason>> = eventKinds[envelope.data.type as EventType].fieldReasons;
  const field = full.error.issues.find((i) => i.path[0] === "data" && typeof i.path[1] === "string" && Object.hasOwn(reasons, i.path[1]));
  const reason = field ? reasons[field.path[1] as string]! : "validation";
  return { ok: false, index, raw, error: new PermanentError(reason, formatIssues(full.error)) };
}
