// The dead-letter stream as an operator's tool: read its records with
// filters, count them, send them back to where they came from (retry), or
// delete them (purge). Records are read with an ordered consumer from the
// start; each keeps its stream sequence so it can be deleted after a retry.
import { DeliverPolicy, type JetStreamClient, type JetStreamManager } from "@nats-io/jetstream";
import { dlqRecordSchema, type DlqRecord } from "../../schemas/index.ts";
import { streamNames } from "../nats/subjects.ts";

export interface DlqFilter {
  stage?: string;
  reason?: string;
  since?: Date;
  until?: Date;
  /** A substring of the original subject (e.g. a tenant's escaped token). */
  subject?: string;
  limit?: number;
}

export interface DlqEntry {
  seq: number;
  record: DlqRecord;
}

export function matches(r: DlqRecord, f: DlqFilter): boolean {
  const at = Date.parse(r.failed_at);
  return (
    (!f.stage || r.stage === f.stage) &&
    (!f.reason || r.reason === f.reason) &&
    (!f.since || at >= f.since.getTime()) &&
    (!f.until || at < f.until.getTime()) &&
    (!f.subject || r.subject.includes(f.subject))
  );
}

/** The matching records, oldest first (up to `limit`); unparsable ones are skipped and counted. */
export async function readDlq(js: JetStreamClient, jsm: JetStreamManager, f: DlqFilter): Promise<{ entries: DlqEntry[]; unreadable: number }> {
  const last = (await jsm.streams.info(streamNames.dlq)).state.last_seq;
  const entries: DlqEntry[] = [];
  let unreadable = 0;
  if (last === 0) return { entries, unreadable };
  const consumer = await js.consumers.get(streamNames.dlq, { deliver_policy: DeliverPolicy.All });
  const parse = (m: { json(): unknown }) => {
    try {
      return dlqRecordSchema.safeParse(m.json());
    } catch {
      return undefined;
    }
  };
  // Fetch until the stream's last record, or until a fetch comes back empty (the last ones were deleted).
  for (let done = false; !done; ) {
    let got = 0;
    for await (const m of await consumer.fetch({ max_messages: 500, expires: 1000 })) {
      got++;
      const parsed = parse(m);
      if (!parsed?.success) unreadable++;
      else if (matches(parsed.data, f)) entries.push({ seq: m.seq, record: parsed.data });
      if (m.seq >= last || (f.limit && entries.length >= f.limit)) done = true;
    }
    if (got === 0) done = true;
  }
  if (f.limit) entries.splice(f.limit);
  return { entries, unreadable };
}

export function dlqStats(entries: DlqEntry[]) {
  const byStage: Record<string, Record<string, number>> = {};
  for (const { record: r } of entries) {
    byStage[r.stage] ??= {};
    byStage[r.stage]![r.reason] = (byStage[r.stage]![r.reason] ?? 0) + 1;
  }
  const times = entries.map((e) => e.record.failed_at).sort();
  return { records: entries.length, by_stage: byStage, oldest: times[0] ?? null, newest: times.at(-1) ?? null };
}

/**
 * Publishes each record's original bytes to its original subject (a new
 * message id, so JetStream's duplicate window does not drop it; the ledger's
 * own checks still stop an event stored before), then deletes the record.
 * A truncated record cannot be retried and stays.
 */
export async function retryDlq(js: JetStreamClient, jsm: JetStreamManager, entries: DlqEntry[]): Promise<{ retried: number; skipped: { seq: number; why: string }[] }> {
  let retried = 0;
  const skipped: { seq: number; why: string }[] = [];
  for (const { seq, record } of entries) {
    if (record.payload_truncated) {
      skipped.push({ seq, why: `payload truncated (${record.payload_bytes} bytes): the original is not in the record` });
      continue;
    }
    await js.publish(record.subject, Buffer.from(record.payload_b64, "base64"), {
      msgID: `dlq-retry:${record.stream}:${record.stream_seq}:${record.batch_index ?? "all"}:${seq}`,
    });
    await jsm.streams.deleteMessage(streamNames.dlq, seq, false);
    retried++;
  }
  return { retried, skipped };
}

export async function purgeDlq(jsm: JetStreamManager, entries: DlqEntry[]): Promise<number> {
  for (const { seq } of entries) await jsm.streams.deleteMessage(streamNames.dlq, seq, false);
  return entries.length;
}
