// Publishes a dead-letter record for a message (or one event of a batch) that
// can never succeed. Deduplicated by stream position so a retried DLQ write
// does not appear twice.
import type { JetStreamClient, JsMsg } from "@nats-io/jetstream";
import type { DlqRecord } from "../../schemas/index.ts";
import type { FailureReason } from "../errors.ts";
import type { Subjects } from "../nats/subjects.ts";

const MAX_PAYLOAD = 512 * 1024;

export interface DlqEntry {
  reason: FailureReason;
  detail: string;
  /** The failing element of a batch; absent means the whole message. */
  batchIndex?: number;
  payload?: Uint8Array;
  eventId?: string;
  source?: string;
}

export function dlqRecord(stage: string, msg: JsMsg, entry: DlqEntry, now = new Date()): DlqRecord {
  const bytes = entry.payload ?? msg.data;
  const kept = bytes.byteLength > MAX_PAYLOAD ? bytes.subarray(0, MAX_PAYLOAD) : bytes;
  return {
    stage,
    reason: entry.reason,
    detail: entry.detail.slice(0, 2000),
    subject: msg.subject,
    stream: msg.info.stream,
    stream_seq: msg.info.streamSequence,
    batch_index: entry.batchIndex,
    event_id: entry.eventId,
    source: entry.source,
    deliveries: msg.info.deliveryCount,
    failed_at: now.toISOString(),
    payload_b64: Buffer.from(kept).toString("base64"),
    payload_bytes: bytes.byteLength,
    payload_truncated: kept !== bytes,
  };
}

export async function publishDlq(js: JetStreamClient, subjects: Subjects, stage: string, msg: JsMsg, entry: DlqEntry) {
  const record = dlqRecord(stage, msg, entry);
  await js.publish(subjects.dlq(stage), JSON.stringify(record), {
    msgID: `dlq:${stage}:${record.stream}:${record.stream_seq}:${entry.batchIndex ?? "all"}`,
  });
}
