// What the runner reads from a message besides its payload: whether
// `costline dlq retry` meant it for another stage, and the ids a log line
// about it can carry.
import type { JsMsg } from "@nats-io/jetstream";
import { RETRY_STAGE_HEADER, eventIds } from "./dlq.ts";

const retryHeaderBytes = Buffer.from(RETRY_STAGE_HEADER);

/**
 * False when the message's raw header block cannot hold the retry header:
 * spares parsing the headers (every message has Nats-Msg-Id) on the hot path.
 * Reads the client's message internals where they are as expected, and
 * otherwise answers true so the parsed headers decide.
 */
function mayCarryRetryHeader(msg: JsMsg): boolean {
  const inner = (msg as unknown as { msg?: { _msg?: { hdr?: unknown }; _rdata?: unknown } }).msg;
  const hdr = inner?._msg?.hdr;
  const raw = inner?._rdata;
  if (typeof hdr !== "number" || !(raw instanceof Uint8Array)) return true;
  if (hdr <= 0) return false;
  return Buffer.from(raw.buffer, raw.byteOffset, Math.min(hdr, raw.byteLength)).indexOf(retryHeaderBytes) >= 0;
}

/** `costline dlq retry` sent it back for another stage reading the same subject. */
export function retriedForAnother(msg: JsMsg, stage: string): boolean {
  if (!mayCarryRetryHeader(msg)) return false;
  const target = msg.headers?.get(RETRY_STAGE_HEADER);
  return Boolean(target) && target !== stage;
}

/** The ids a log line about one message can carry: its Nats-Msg-Id, and the trace and request of a single event. */
export function messageIds(msg: JsMsg): Record<string, string | undefined> {
  const msgId = msg.headers?.get("Nats-Msg-Id") || undefined;
  // A batch names no single trace: only a lone event (a JSON object) up to 64 KiB is looked into.
  if (msg.data.byteLength > 65_536 || msg.data[0] !== 0x7b) return { msgId };
  const ids = eventIds(msg.data);
  return { msgId, tenant: ids.tenant, traceId: ids.trace_id, requestId: ids.request_id };
}
