// The dead-letter stream as an operator's tool: read its records with
// filters, count them, send them back to where they came from (retry), or
// delete them (purge). Records are read with an ordered consumer from the
// start (on the stage's subject alone when a stage is named); each keeps its
// stream sequence so it can be deleted after a retry.
import { DeliverPolicy, type JetStreamClient, type JetStreamManager } from "@nats-io/jetstream";
import { headers } from "@nats-io/nats-core";
import { dlqRecordSchema, type DlqRecord } from "../../schemas/index.ts";
import { createSubjects, streamNames } from "../nats/subjects.ts";
import { RETRY_STAGE_HEADER, tenantOfSubject } from "../runner/dlq.ts";
import { matches, type DlqFilter } from "./dlq-filter.ts";

export interface DlqEntry {
  seq: number;
  record: DlqRecord;
}

/** The matching records, oldest first (up to `limit`); unparsable ones are skipped and counted. */
export async function readDlq(
  js: JetStreamClient,
  jsm: JetStreamManager,
  f: DlqFilter,
  subjectPrefix = "costline",
): Promise<{ entries: DlqEntry[]; unreadable: number }> {
  const entries: DlqEntry[] = [];
  let unreadable = 0;
  // One stage's records are one subject: the server skips the rest.
  const subject = f.stage ? createSubjects(subjectPrefix).dlq(f.stage) : undefined;
  // Nothing to read is known up front: a fetch from an empty stream or subject would wait out its expiry.
  const { state } = await jsm.streams.info(streamNames.dlq, subject ? { subjects_filter: subject } : undefined);
  if (state.messages === 0 || (subject && !state.subjects?.[subject])) return { entries, unreadable };
  const consumer = await js.consumers.get(streamNames.dlq, {
    deliver_policy: DeliverPolicy.All,
    ...(subject ? { filter_subjects: subject } : {}),
  });
  const parse = (m: { json(): unknown }) => {
    try {
      return dlqRecordSchema.safeParse(m.json());
    } catch {
      return undefined;
    }
  };
  // Fetch until the consumer has nothing pending, or a fetch comes back empty. The fetch is left as
  // soon as the last record is in: waiting for it to end would wait out its expiry, a second per call.
  for (let done = false; !done;) {
    let got = 0;
    for await (const m of await consumer.fetch({ max_messages: 500, expires: 1000 })) {
      got++;
      const parsed = parse(m);
      if (!parsed?.success) unreadable++;
      else if (matches(parsed.data, f)) entries.push({ seq: m.seq, record: parsed.data });
      if (m.info.pending === 0 || (f.limit && entries.length >= f.limit)) {
        done = true;
        break;
      }
    }
    if (got === 0) done = true;
  }
  await consumer.delete().catch(() => undefined);
  if (f.limit) entries.splice(f.limit);
  return { entries, unreadable };
}

export interface DlqStats {
  records: number;
  by_stage: Record<string, Record<string, number>>;
  /** The 20 tenants with the most records ("(none)" for records that name no tenant). */
  by_tenant: Record<string, number>;
  tenants: number;
  oldest: string | null;
  newest: string | null;
}

export function dlqStats(entries: DlqEntry[]): DlqStats {
  const byStage: Record<string, Record<string, number>> = {};
  const byTenant = new Map<string, number>();
  for (const { record: r } of entries) {
    byStage[r.stage] ??= {};
    byStage[r.stage]![r.reason] = (byStage[r.stage]![r.reason] ?? 0) + 1;
    const tenant = r.tenant ?? tenantOfSubject(r.subject) ?? "(none)";
    byTenant.set(tenant, (byTenant.get(tenant) ?? 0) + 1);
  }
  const times = entries.map((e) => e.record.failed_at).sort();
  // ORDER: most records first, then by name, so the output is stable.
  const top = [...byTenant].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).slice(0, 20);
  return {
    records: entries.length,
    by_stage: byStage,
    by_tenant: Object.fromEntries(top),
    tenants: byTenant.size,
    oldest: times[0] ?? null,
    newest: times.at(-1) ?? null,
  };
}

/**
 * Publishes each record's original bytes to its original subject and then
 * deletes the record. A new message id, so JetStream's duplicate window does
 * not drop it (the ledger's own checks still stop an event stored before),
 * and a header naming the record's stage, so only that stage handles it
 * again (another stage on the same subject acknowledges it untouched). A
 * truncated record cannot be retried and stays.
 */
export async function retryDlq(
  js: JetStreamClient,
  jsm: JetStreamManager,
  entries: DlqEntry[],
): Promise<{ retried: number; skipped: { seq: number; why: string }[] }> {
  let retried = 0;
  const skipped: { seq: number; why: string }[] = [];
  for (const { seq, record } of entries) {
    if (record.payload_truncated) {
      skipped.push({ seq, why: `payload truncated (${record.payload_bytes} bytes): the original is not in the record` });
      continue;
    }
    const h = headers();
    h.set(RETRY_STAGE_HEADER, record.stage);
    // Deterministic per record: a retry interrupted between publish and delete and run again is deduplicated.
    await js.publish(record.subject, Buffer.from(record.payload_b64, "base64"), {
      msgID: `dlq-retry:${record.stream}:${record.stream_seq}:${record.batch_index ?? "all"}:${seq}`,
      headers: h,
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
