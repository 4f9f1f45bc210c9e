// How a stage reads its messages: every stage declares a decoder (usually its
// zod schema through `schemaDecoder`), and the runner decodes each message
// before the stage's handler sees it. A message that can never be decoded is
// dead-lettered by the runner with its reason, so no stage writes its own
// parse → validate → dead-letter path.
import type { JsMsg } from "@nats-io/jetstream";
import type * as z from "zod";
import { PermanentError, errorMessage, formatIssues } from "../errors.ts";

/**
 * Reads one message into what the stage works on. Throws PermanentError for a
 * message that can never be used (it is dead-lettered with that reason); any
 * other error is taken as temporary and the message is retried.
 */
export type Decoder<T> = (msg: JsMsg) => T;

/** A message and what its stage's decoder made of it. */
export interface Delivery<T> {
  msg: JsMsg;
  value: T;
}

/** The decoder of a stage whose messages are one JSON document of `schema`; `what` names it in reasons ("alert"). */
export function schemaDecoder<S extends z.ZodType>(schema: S, what: string): Decoder<z.output<S>> {
  return (msg) => {
    let raw: unknown;
    try {
      raw = msg.json();
    } catch (err) {
      throw new PermanentError("not_json", `${what} is not JSON: ${errorMessage(err)}`);
    }
    const parsed = schema.safeParse(raw);
    if (!parsed.success) throw new PermanentError("validation", `${what}: ${formatIssues(parsed.error)}`);
    return parsed.data;
  };
}
