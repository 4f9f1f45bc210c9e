// Publishes a dead-letter record for a message (or one event of a batch) that
// can never succeed. Deduplicated by stream position so a retried DLQ write
// does not appear twice. The record names the event's tenant, trace and
// request when its message does, so operators can filter by tenant and logs
// can point at the trace.
import type { JetStreamClient, JsMsg } from "@nats-io/jetstream";
import type { DlqRecord } from "../../schemas/index.ts";
import type { FailureReason } from "../errors.ts";
import { fromSubjectToken, type Subjects } from "../nats/subjects.ts";
import type { Logger } from "../observability/log.ts";
import type { Metrics } from "../observability/metrics.ts";

const MAX_PAYLOAD = 512 * 1024;

/**
 * Header `costline dlq retry` sets on a republished message: the stage the
 * record came from. Other stages reading the same subject acknowledge it
 * untouched, so a retry for the ledger does not reach the windower again.
 */
export const RETRY_STAGE_HEADER = "Costline-Retry-Stage";

export interface DlqEntry {
  reason: FailureReason;
  detail: string;
  /** The failing element of a batch; absent means the whole message. */
  batchIndex?: number;
  payload?: Uint8Array;
  eventId?: string;
  source?: string;
  tenant?: string;
  traceId?: string;
  requestId?: string;
  /**
   * Names this record across redeliveries where the stream position does not
   * (the notifier: one record per alert and channel); its Nats-Msg-Id is then
   * `dlq:<stage>:<key>`.
   */
  key?: string;
}

export interface EventIds {
  tenant?: string;
  trace_id?: string;
  request_id?: string;
  event_id?: string;
  source?: string;
}

const str = (v: unknown) => (typeof v === "string" && v.length > 0 && v.length <= 256 ? v : undefined);

/**
 * What a message says about its event, best effort: a CloudEvent (id, source,
 * data.tenant, data.trace_id, data.request_id), a priced event or an alert
 * (tenant, trace_id, request_id at the top). A batch names its tenant when all
 * its events share one. Anything else (not JSON, too large) says nothing.
 */
export function eventIds(bytes: Uint8Array, maxBytes = MAX_PAYLOAD): EventIds {
  if (bytes.byteLength === 0 || bytes.byteLength > maxBytes) return {};
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("utf8"));
  } catch {
    return {};
  }
  const one = (v: unknown): EventIds => {
    if (v === null || typeof v !== "object" || Array.isArray(v)) return {};
    const o = v as Record<string, unknown>;
    const data = o.data !== null && typeof o.data === "object" && !Array.isArray(o.data) ? (o.data as Record<string, unknown>) : undefined;
    return {
      tenant: str(data?.tenant) ?? str(o.tenant),
      trace_id: str(data?.trace_id) ?? str(o.trace_id),
      request_id: str(data?.request_id) ?? str(o.request_id),
      event_id: str(o.event_id) ?? (data ? str(o.id) : undefined),
      source: str(o.source),
    };
  };
  if (!Array.isArray(value)) return one(value);
  const tenants = new Set(value.map((v) => one(v).tenant));
  return tenants.size === 1 ? { tenant: [...tenants][0] } : {};
}

/**
 * The tenant an events or priced subject names (`<prefix>.events.<tenant>`,
 * `<prefix>.priced.<tenant>.<partition>`), if it is one of those.
 */
export function tenantOfSubject(subject: string): string | undefined {
  const t = subject.split(".");
  const named = (t.length === 3 && t[1] === "events") || (t[1] === "priced" && (t.length === 3 || t.length === 4));
  return named ? fromSubjectToken(t[2]!) : undefined;
}

export function dlqRecord(stage: string, msg: JsMsg, entry: DlqEntry, now = new Date()): DlqRecord {
  const bytes = entry.payload ?? msg.data;
  const kept = bytes.byteLength > MAX_PAYLOAD ? bytes.subarray(0, MAX_PAYLOAD) : bytes;
  const ids = eventIds(bytes);
  return {
    stage,
    reason: entry.reason,
    detail: entry.detail.slice(0, 2000),
    subject: msg.subject,
    stream: msg.info.stream,
    stream_seq: msg.info.streamSequence,
    batch_index: entry.batchIndex,
    event_id: entry.eventId ?? ids.event_id,
    source: entry.source ?? ids.source,
    tenant: entry.tenant ?? ids.tenant ?? tenantOfSubject(msg.subject),
    trace_id: entry.traceId ?? ids.trace_id,
    request_id: entry.requestId ?? ids.request_id,
    deliveries: msg.info.deliveryCount,
    failed_at: now.toISOString(),
    payload_b64: Buffer.from(kept).toString("base64"),
    payload_bytes: bytes.byteLength,
    payload_truncated: kept !== bytes,
  };
}

export async function publishDlq(js: JetStreamClient, subjects: Subjects, stage: string, msg: JsMsg, entry: DlqEntry): Promise<DlqRecord> {
  const record = dlqRecord(stage, msg, entry);
  await js.publish(subjects.dlq(stage), JSON.stringify(record), {
    msgID: entry.key ? `dlq:${stage}:${entry.key}` : `dlq:${stage}:${record.stream}:${record.stream_seq}:${entry.batchIndex ?? "all"}`,
  });
  return record;
}

/** Writes one dead letter of a stage: published, counted in costline_dlq_total, logged. Rejects when the DLQ is unreachable. */
export type DlqWriter = (msg: JsMsg, entry: DlqEntry) => Promise<DlqRecord>;

/**
 * The one way any stage writes a dead letter. The runner writes through it
 * for the outcomes it settles; a stage that dead-letters on its own schedule
 * (the notifier, once a delivery gave up) is handed the same writer.
 */
export function createDlqWriter(opts: {
  js: JetStreamClient;
  subjects: Subjects;
  stage: string;
  metrics: Metrics;
  log: Logger;
}): DlqWriter {
  return async (msg, entry) => {
    const r = await publishDlq(opts.js, opts.subjects, opts.stage, msg, entry);
    opts.metrics.dlq.inc({ stage: opts.stage, reason: entry.reason });
    opts.log.warn(
      {
        reason: r.reason,
        subject: r.subject,
        seq: r.stream_seq,
        batchIndex: r.batch_index,
        deliveries: r.deliveries,
        tenant: r.tenant,
        eventId: r.event_id,
        traceId: r.trace_id,
        requestId: r.request_id,
      },
      `dead letter: ${r.detail}`,
    );
    return r;
  };
}
