// What the cluster chaos run prints when the ledger never catches up, so a
// failure explains itself: the ledger against what was published, per tenant
// with its partition; every durable consumer's pending, unacknowledged and
// redelivered counts (a partition whose ledger consumer holds messages nobody
// settles shows here); the dead-letter stream; and the lease bucket's entries
// (who holds which partition, and the live members).
import type { JetStreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { Kvm } from "@nats-io/kv";
import { partitionOf } from "../../pipeline/nats/partition.ts";
import { streamNames } from "../../pipeline/nats/subjects.ts";

export interface StallInput {
  nc: NatsConnection;
  jsm: JetStreamManager;
  partitions: number;
  /** Per tenant: events uniquely published and events the ledger holds now. */
  tenants: { tenant: string; want: number; got: number }[];
}

export interface StallReport {
  ledger: { expected: number; actual: number; tenants: { tenant: string; partition: number; expected: number; actual: number }[] };
  consumers: {
    stream: string;
    name: string;
    num_pending: number;
    num_ack_pending: number;
    num_redelivered: number;
    num_waiting: number;
    delivered_seq: number;
    ack_floor_seq: number;
  }[];
  dlq_messages: number | string;
  leases: { bucket: string; entries: { key: string; revision: number; value: string }[] }[];
}

const failed = (err: unknown) => `unavailable: ${(err as Error)?.message ?? String(err)}`;

export async function stallReport(input: StallInput): Promise<StallReport> {
  const { jsm, nc } = input;
  const tenants = input.tenants.map((t) => ({
    tenant: t.tenant,
    partition: partitionOf(t.tenant, input.partitions),
    expected: t.want,
    actual: t.got,
  }));
  const report: StallReport = {
    ledger: {
      expected: tenants.reduce((s, t) => s + t.expected, 0),
      actual: tenants.reduce((s, t) => s + t.actual, 0),
      tenants,
    },
    consumers: [],
    dlq_messages: 0,
    leases: [],
  };
  for (const stream of [streamNames.events, streamNames.priced]) {
    try {
      for await (const c of jsm.consumers.list(stream))
        report.consumers.push({
          stream,
          name: c.name,
          num_pending: c.num_pending,
          num_ack_pending: c.num_ack_pending,
          num_redelivered: c.num_redelivered,
          num_waiting: c.num_waiting,
          delivered_seq: c.delivered.stream_seq,
          ack_floor_seq: c.ack_floor.stream_seq,
        });
    } catch (err) {
      report.consumers.push({
        stream: `${stream} (${failed(err)})`,
        name: "",
        num_pending: -1,
        num_ack_pending: -1,
        num_redelivered: -1,
        num_waiting: -1,
        delivered_seq: -1,
        ack_floor_seq: -1,
      });
    }
  }
  try {
    report.dlq_messages = (await jsm.streams.info(streamNames.dlq)).state.messages;
  } catch (err) {
    report.dlq_messages = failed(err);
  }
  const kvm = new Kvm(nc);
  try {
    for await (const s of jsm.streams.list()) {
      if (!s.config.name.startsWith("KV_") || !/lease/i.test(s.config.name)) continue;
      const bucket = s.config.name.slice(3);
      const entries: StallReport["leases"][number]["entries"] = [];
      try {
        const kv = await kvm.open(bucket);
        for await (const key of await kv.keys()) {
          const e = await kv.get(key);
          if (e && e.operation === "PUT") entries.push({ key, revision: e.revision, value: e.string() });
        }
      } catch (err) {
        entries.push({ key: "(bucket unreadable)", revision: -1, value: failed(err) });
      }
      report.leases.push({ bucket, entries: entries.sort((a, b) => a.key.localeCompare(b.key)) });
    }
  } catch (err) {
    report.leases.push({ bucket: "(stream list failed)", entries: [{ key: "", revision: -1, value: failed(err) }] });
  }
  return report;
}

/** The report as lines for a log: the ledger gap first, then what is stuck. */
export function describeStall(r: StallReport): string[] {
  const lines = [`ledger holds ${r.ledger.actual} of ${r.ledger.expected} unique events`];
  for (const t of r.ledger.tenants)
    lines.push(
      `  ${t.tenant} (partition ${t.partition}): ${t.actual} of ${t.expected}${t.actual < t.expected ? `, ${t.expected - t.actual} missing` : ""}`,
    );
  lines.push(`dead letters: ${r.dlq_messages}`);
  for (const c of r.consumers)
    lines.push(
      `consumer ${c.stream} > ${c.name}: num_pending ${c.num_pending}, num_ack_pending ${c.num_ack_pending}, ` +
        `num_redelivered ${c.num_redelivered}, num_waiting ${c.num_waiting}, delivered ${c.delivered_seq}, ack floor ${c.ack_floor_seq}`,
    );
  for (const b of r.leases) {
    lines.push(`lease bucket ${b.bucket}: ${b.entries.length} entries`);
    for (const e of b.entries) lines.push(`  ${e.key} rev ${e.revision} ${e.value}`);
  }
  return lines;
}
