// Where the events the ledger lacks went, so a chaos run that loses events
// names their path instead of only their count. For each tenant short in the
// ledger: the missing event ids; the events-stream messages that carried them
// (did the producer's message reach JetStream?); the priced-stream messages
// that carried them (did enrich publish them, at which sequence, under which
// message id?) against the partition's ledger consumer (was that sequence
// delivered and acknowledged?); dead letters that hold them; and the lines of
// the processes' logs that name those priced sequences, or warn about the
// partition. `verdict` says in a sentence per tenant where the trail ends.
//
// Also the dead-letter stream summed by stage and reason, which every run
// reports (an event parked in the DLQ is not in the ledger either).
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { AckPolicy, DeliverPolicy, jetstream, type JetStreamManager } from "@nats-io/jetstream";
import { nanos, type NatsConnection } from "@nats-io/nats-core";
import { partitionOf } from "../../pipeline/nats/partition.ts";
import { createSubjects, streamNames } from "../../pipeline/nats/subjects.ts";

export interface CarryingMessage {
  seq: number;
  subject: string;
  msg_id?: string;
  /** Events in the message (after in-message duplicates), and how many of them are missing from the ledger. */
  events: number;
  missing: number;
  time: string;
}

export interface DlqSummary {
  total: number;
  /** Records by `stage/reason`. */
  by: Record<string, number>;
  /** Records whose payload holds one of the missing events, or that name a priced sequence that carried one. */
  carrying_missing: { stage: string; reason: string; stream: string; stream_seq: number; detail: string; missing: number }[];
}

/** A consumer advisory JetStream published (captured by the chaos run's advisory stream). */
export interface Advisory {
  kind: "max_deliveries" | "terminated";
  stream: string;
  consumer: string;
  stream_seq: number;
  deliveries: number;
}

/** The stream the chaos run creates at its start to keep JetStream's consumer advisories (it cannot subscribe to them). */
export const ADVISORY_STREAM = "CHAOS_ADVISORIES";
export const advisorySubjects = ["$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.>", "$JS.EVENT.ADVISORY.CONSUMER.MSG_TERMINATED.>"];

export async function readAdvisories(nc: NatsConnection, jsm: JetStreamManager): Promise<Advisory[]> {
  const out: Advisory[] = [];
  try {
    await scan(nc, jsm, ADVISORY_STREAM, ">", (m) => {
      const a = (m.data ?? {}) as { stream?: string; consumer?: string; stream_seq?: number; deliveries?: number };
      out.push({
        kind: m.subject.includes(".MAX_DELIVERIES.") ? "max_deliveries" : "terminated",
        stream: a.stream ?? "?",
        consumer: a.consumer ?? "?",
        stream_seq: a.stream_seq ?? -1,
        deliveries: a.deliveries ?? -1,
      });
    });
  } catch {
    // no advisory stream (an older run): nothing to tell
  }
  return out;
}

export interface TenantLoss {
  tenant: string;
  partition: number;
  expected: number;
  stored: number;
  missing_ids: string[];
  /** Events-stream messages that carried missing events. */
  events_messages: CarryingMessage[];
  /** Priced-stream messages that carried missing events. */
  priced_messages: CarryingMessage[];
  /** JetStream's advisories about those priced messages on the partition's ledger consumer. */
  advisories: Advisory[];
  /** Missing events in no priced message at all. */
  missing_never_priced: number;
  /** The partition's ledger consumer: how far it delivered and acknowledged. */
  ledger_consumer?: {
    name: string;
    delivered: number;
    ack_floor: number;
    num_pending: number;
    num_ack_pending: number;
    num_redelivered: number;
  };
  verdict: string;
}

export interface LossReport {
  tenants: TenantLoss[];
  /** Every max-deliveries advisory of the run, by consumer (JetStream gave a message up: nobody will get it again). */
  max_deliveries: Record<string, number>;
  dlq: DlqSummary;
  /** Log lines of the costline processes about the missing events' priced messages and partitions (capped). */
  log_lines: string[];
}

export interface LossInput {
  nc: NatsConnection;
  jsm: JetStreamManager;
  partitions: number;
  /** Uniquely published events: id → tenant. */
  unique: Map<string, { tenant: string }>;
  /** The ids the ledger holds, of one tenant. */
  storedIds(tenant: string): Promise<string[]>;
  /** Directory of the processes' log files (`*.log`, `*.out`, pino JSON lines). */
  logDir?: string;
  /** How many log lines to keep at most. */
  maxLogLines?: number;
}

type Raw = { seq: number; subject: string; msgId?: string; time: string; data: unknown };

/** Every message of `stream` on `filter`, read once through an ephemeral consumer (nats-server 2.9 has no filter_subjects). */
async function scan(nc: NatsConnection, jsm: JetStreamManager, stream: string, filter: string, each: (m: Raw) => void): Promise<number> {
  const info = await jsm.consumers.add(stream, {
    ack_policy: AckPolicy.None,
    deliver_policy: DeliverPolicy.All,
    filter_subject: filter,
    inactive_threshold: nanos(120_000),
  });
  const consumer = await jetstream(nc).consumers.get(stream, info.name);
  let total = 0;
  for (;;) {
    let got = 0;
    for await (const m of await consumer.fetch({ max_messages: 1000, expires: 3000 })) {
      got++;
      let data: unknown;
      try {
        data = m.json();
      } catch {
        data = undefined;
      }
      each({
        seq: m.seq,
        subject: m.subject,
        msgId: m.headers?.get("Nats-Msg-Id") || undefined,
        time: new Date(Math.floor(m.info.timestampNanos / 1e6)).toISOString(),
        data,
      });
    }
    total += got;
    if (got === 0) break;
  }
  await jsm.consumers.delete(stream, info.name).catch(() => undefined);
  return total;
}

const asArray = (v: unknown): unknown[] => (Array.isArray(v) ? v : v === undefined ? [] : [v]);
const idOf = (e: unknown, field: "id" | "event_id"): string | undefined => {
  const v = e && typeof e === "object" ? (e as Record<string, unknown>)[field] : undefined;
  return typeof v === "string" ? v : undefined;
};

function carrying(m: Raw, field: "id" | "event_id", missing: Set<string>): CarryingMessage | undefined {
  const ids = new Set(
    asArray(m.data)
      .map((e) => idOf(e, field))
      .filter((x): x is string => !!x),
  );
  let hit = 0;
  for (const id of ids) if (missing.has(id)) hit++;
  return hit ? { seq: m.seq, subject: m.subject, msg_id: m.msgId, events: ids.size, missing: hit, time: m.time } : undefined;
}

export async function summarizeDlq(nc: NatsConnection, jsm: JetStreamManager, missing = new Set<string>(), pricedSeqs = new Set<number>()) {
  const dlq: DlqSummary = { total: 0, by: {}, carrying_missing: [] };
  await scan(nc, jsm, streamNames.dlq, createSubjects("costline").all.dlq, (m) => {
    const r = (m.data ?? {}) as {
      stage?: string;
      reason?: string;
      stream?: string;
      stream_seq?: number;
      detail?: string;
      payload_b64?: string;
    };
    dlq.total++;
    const k = `${r.stage}/${r.reason}`;
    dlq.by[k] = (dlq.by[k] ?? 0) + 1;
    let payload: unknown;
    try {
      payload = JSON.parse(Buffer.from(r.payload_b64 ?? "", "base64").toString("utf8"));
    } catch {
      payload = undefined;
    }
    let hit = 0;
    for (const e of asArray(payload)) {
      const id = idOf(e, "event_id") ?? idOf(e, "id");
      if (id && missing.has(id)) hit++;
    }
    if (hit || (r.stream === streamNames.priced && pricedSeqs.has(r.stream_seq ?? -1)))
      dlq.carrying_missing.push({
        stage: r.stage ?? "?",
        reason: r.reason ?? "?",
        stream: r.stream ?? "?",
        stream_seq: r.stream_seq ?? -1,
        detail: (r.detail ?? "").slice(0, 300),
        missing: hit,
      });
  });
  return dlq;
}

/** Log lines naming one of `seqs` (as `"seq":N`) or warning about `partitions` of a stage, plus every dead letter and refusal. */
function logLines(dir: string, seqs: Set<number>, partitions: Set<number>, max: number): string[] {
  const out: string[] = [];
  let files: string[] = [];
  try {
    // The joined processes' logs, and `costline up`'s own under logs/.
    files = readdirSync(dir, { recursive: true, encoding: "utf8" }).filter((f) => f.endsWith(".log") || f.endsWith(".out"));
  } catch {
    return [];
  }
  for (const f of files.sort()) {
    let text = "";
    try {
      text = readFileSync(path.join(dir, f), "utf8");
    } catch {
      continue;
    }
    for (const line of text.split("\n")) {
      if (!line) continue;
      const seq = /"seq":(\d+)/.exec(line)?.[1];
      const part = /"partition":(\d+)/.exec(line)?.[1];
      const level = Number(/"level":(\d+)/.exec(line)?.[1] ?? 0);
      const keep =
        (seq !== undefined && seqs.has(Number(seq)) && /"stage":"(ledger|enrich|windower)"/.test(line)) ||
        (part !== undefined && partitions.has(Number(part)) && (level >= 40 || /lease (acquired|released)/.test(line))) ||
        /refused a batch|dead letter|replicas disagree|settling a batch failed|final flush failed/.test(line);
      if (keep) out.push(`${f}: ${line.length > 600 ? `${line.slice(0, 600)}…` : line}`);
      if (out.length >= max) return [...out, `(log lines capped at ${max})`];
    }
  }
  return out;
}

export async function lossReport(input: LossInput): Promise<LossReport> {
  const { nc, jsm } = input;
  const subjects = createSubjects("costline", input.partitions);
  const byTenant = new Map<string, string[]>();
  for (const [id, u] of input.unique) {
    const list = byTenant.get(u.tenant);
    if (list) list.push(id);
    else byTenant.set(u.tenant, [id]);
  }
  const consumers = new Map<string, TenantLoss["ledger_consumer"]>();
  for await (const c of jsm.consumers.list(streamNames.priced))
    consumers.set(c.name, {
      name: c.name,
      delivered: c.delivered.stream_seq,
      ack_floor: c.ack_floor.stream_seq,
      num_pending: c.num_pending,
      num_ack_pending: c.num_ack_pending,
      num_redelivered: c.num_redelivered,
    });
  const advisories = await readAdvisories(nc, jsm);
  const maxDeliveries: Record<string, number> = {};
  for (const a of advisories) if (a.kind === "max_deliveries") maxDeliveries[a.consumer] = (maxDeliveries[a.consumer] ?? 0) + 1;
  const tenants: TenantLoss[] = [];
  const allMissing = new Set<string>();
  const pricedSeqs = new Set<number>();
  for (const [tenant, ids] of byTenant) {
    const stored = new Set(await input.storedIds(tenant));
    const missingIds = ids.filter((id) => !stored.has(id));
    if (missingIds.length === 0) continue;
    const missing = new Set(missingIds);
    for (const id of missing) allMissing.add(id);
    const partition = partitionOf(tenant, input.partitions);
    const events: CarryingMessage[] = [];
    await scan(nc, jsm, streamNames.events, subjects.events(tenant), (m) => {
      const c = carrying(m, "id", missing);
      if (c) events.push(c);
    });
    const priced: CarryingMessage[] = [];
    const priceCarried = new Set<string>();
    await scan(nc, jsm, streamNames.priced, subjects.priced(tenant), (m) => {
      const c = carrying(m, "event_id", missing);
      if (!c) return;
      priced.push(c);
      pricedSeqs.add(c.seq);
      for (const e of asArray(m.data)) {
        const id = idOf(e, "event_id");
        if (id && missing.has(id)) priceCarried.add(id);
      }
    });
    const ledger = consumers.get(`ledger-p${partition}`);
    const neverPriced = missingIds.filter((id) => !priceCarried.has(id)).length;
    const past = ledger ? priced.filter((p) => p.seq <= ledger.ack_floor) : [];
    const seqs = new Set(priced.map((p) => p.seq));
    const given = advisories.filter((a) => a.stream === streamNames.priced && seqs.has(a.stream_seq) && a.consumer === ledger?.name);
    const maxed = given.filter((a) => a.kind === "max_deliveries");
    const verdict =
      events.length === 0
        ? `${missingIds.length} missing events are in no message of the events stream: the producer's publish never stored them`
        : neverPriced === missingIds.length
          ? `${missingIds.length} missing events reached the events stream (seq ${events.map((e) => e.seq).join(", ")}) but no priced message: enrich acknowledged their input without publishing them`
          : maxed.length
            ? `priced message(s) seq ${maxed.map((a) => `${a.stream_seq} (after ${a.deliveries} deliveries)`).join(", ")} reached ${ledger?.name}'s max_deliver: ` +
              "JetStream stopped delivering them and moved its ack floor past them, with no dead letter"
            : past.length === priced.length && ledger
              ? `${missingIds.length - neverPriced} missing events are in ${priced.length} priced message(s) (seq ${priced
                  .slice(0, 5)
                  .map((p) => `${p.seq}: ${p.missing}/${p.events} missing`)
                  .join(", ")}${priced.length > 5 ? ", …" : ""}), ` +
                `at or below ${ledger.name}'s ack floor ${ledger.ack_floor}: acknowledged without being stored` +
                (neverPriced ? `; ${neverPriced} more were never priced` : "")
              : `missing events are in ${priced.length} priced message(s), not all acknowledged yet by ${ledger?.name ?? "the ledger"}`;
    tenants.push({
      tenant,
      partition,
      expected: ids.length,
      stored: ids.length - missingIds.length,
      missing_ids: missingIds.slice(0, 100),
      events_messages: events,
      priced_messages: priced,
      advisories: given,
      missing_never_priced: neverPriced,
      ledger_consumer: ledger,
      verdict,
    });
  }
  const dlq = await summarizeDlq(nc, jsm, allMissing, pricedSeqs);
  const lines = input.logDir ? logLines(input.logDir, pricedSeqs, new Set(tenants.map((t) => t.partition)), input.maxLogLines ?? 300) : [];
  return { tenants, max_deliveries: maxDeliveries, dlq, log_lines: lines };
}

/** The report as log lines: the verdict per tenant first. */
export function describeLoss(r: LossReport): string[] {
  const lines: string[] = [];
  for (const t of r.tenants) {
    lines.push(`${t.tenant} (partition ${t.partition}): ${t.stored} of ${t.expected} stored. ${t.verdict}`);
    for (const m of t.priced_messages.slice(0, 10))
      lines.push(`  priced seq ${m.seq} ${m.subject} id ${m.msg_id} at ${m.time}: ${m.missing} of its ${m.events} events missing`);
    if (t.priced_messages.length > 10) lines.push(`  … ${t.priced_messages.length - 10} more priced messages (in the JSON report)`);
    for (const m of t.events_messages.slice(0, 10))
      lines.push(`  events seq ${m.seq} id ${m.msg_id} at ${m.time}: ${m.missing} of its ${m.events} events missing`);
    if (t.events_messages.length > 10) lines.push(`  … ${t.events_messages.length - 10} more events messages (in the JSON report)`);
    if (t.ledger_consumer) lines.push(`  ${JSON.stringify(t.ledger_consumer)}`);
    for (const a of t.advisories) lines.push(`  advisory ${a.kind} ${a.consumer} seq ${a.stream_seq} after ${a.deliveries} deliveries`);
  }
  lines.push(`max-deliveries advisories by consumer: ${JSON.stringify(r.max_deliveries)}`);
  lines.push(`dead letters: ${r.dlq.total} ${JSON.stringify(r.dlq.by)}`);
  for (const d of r.dlq.carrying_missing)
    lines.push(`  dead letter ${d.stage}/${d.reason} of ${d.stream} seq ${d.stream_seq} (${d.missing} missing events): ${d.detail}`);
  for (const l of r.log_lines) lines.push(`  log ${l}`);
  return lines;
}

/** One stream's state as each node's replica holds it (from the node's monitoring endpoint, /jsz). */
export interface ReplicaState {
  stream: string;
  replicas: { node: string; messages: number; first_seq: number; last_seq: number; leader: boolean }[];
  /** Every replica holds the same messages under the same sequences (by count and bounds). */
  agree: boolean;
}

/**
 * Compares the replicas of `streams` across the nodes. nats-server 2.9 replicas
 * judge a Nats-Msg-Id duplicate each on its own: one that dropped a message the
 * others stored holds one message fewer and numbers every later one differently,
 * and a consumer led by it never delivers the message it dropped.
 */
export async function replicaStates(nodes: { name: string; monitorPort: number }[], streams: string[]): Promise<ReplicaState[]> {
  const seen = new Map<string, ReplicaState["replicas"]>();
  for (const n of nodes) {
    let jsz: { account_details?: { stream_detail?: { name: string; state: Record<string, number>; cluster?: { leader?: string } }[] }[] };
    try {
      jsz = (await (await fetch(`http://127.0.0.1:${n.monitorPort}/jsz?accounts=true&streams=true`)).json()) as typeof jsz;
    } catch {
      continue; // a node down has nothing to say
    }
    for (const a of jsz.account_details ?? [])
      for (const s of a.stream_detail ?? []) {
        if (!streams.includes(s.name)) continue;
        const list = seen.get(s.name) ?? [];
        list.push({
          node: n.name,
          messages: s.state.messages ?? 0,
          first_seq: s.state.first_seq ?? 0,
          last_seq: s.state.last_seq ?? 0,
          leader: s.cluster?.leader === n.name,
        });
        seen.set(s.name, list);
      }
  }
  return streams.map((stream) => {
    const replicas = seen.get(stream) ?? [];
    const key = (r: ReplicaState["replicas"][number]) => `${r.messages}/${r.first_seq}/${r.last_seq}`;
    return { stream, replicas, agree: replicas.length > 0 && new Set(replicas.map(key)).size === 1 };
  });
}
