// The cluster chaos run: a three-node NATS cluster (R3 streams and buckets),
// three costline processes each running every stage — `costline up` serving
// the embedded ClickHouse over HTTP, and two `costline run <every stage>`
// joined to it through CLICKHOUSE_URL — and events stamped with the time they
// are published, about 10 % of them published again (in the same batch, and
// re-batched later under a new message id). Mid-run one costline process and
// the node leading the events stream are SIGKILLed and started again. After
// the kills a tenant with a steady baseline gets one window at ten times it.
//
// Checked at the end: per tenant, the ledger's count and exact Decimal sum
// against what was uniquely published, rows stored (a duplicate insert shows
// here), every rollup, the sum over the final tenant windows against the
// ledger, and the spike alerted exactly once. Lease handovers are reported
// from whatever lease metrics and buckets the processes have.
//
// Used by test/integration/cluster-chaos.test.ts (short) and
// `npm run chaos:cluster` (test/chaos/cluster-main.ts).
import { randomBytes } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { nanos } from "@nats-io/nats-core";
import { Kvm, type KV } from "@nats-io/kv";
import { connect } from "@nats-io/transport-node";
import { natsAuthOptions } from "../../pipeline/nats/connect.ts";
import { createSubjects, partitionBuckets, streamNames } from "../../pipeline/nats/subjects.ts";
import { Decimal } from "../../pipeline/pricing/decimal.ts";
import { seededRandom } from "../../pipeline/demo/traffic.ts";
import { stageNames } from "../../pipeline/stack/stage-registry.ts";
import type { CostlineEventInput, WindowAggregate } from "../../schemas/index.ts";
import { startNatsCluster } from "../helpers/nats-cluster.ts";
import { runLog, startRun, type RunProcess } from "../helpers/run-process.ts";
import { startStack, tempHome, waitFor } from "../helpers/stack-process.ts";
import type { ChaosCheck } from "./run-chaos.ts";
import { describeStall, stallReport } from "./stall-report.ts";
import {
  ADVISORY_STREAM,
  advisorySubjects,
  describeLoss,
  lossReport,
  readAdvisories,
  replicaStates,
  summarizeDlq,
  type DlqSummary,
  type LossReport,
  type ReplicaState,
} from "./loss-report.ts";

export interface ClusterChaosOptions {
  events: number;
  /** Publishing is paced over this long; the kills land at about 35 % and 60 % of it, the spike at 80 %. */
  publishSeconds: number;
  duplicateShare?: number;
  windowS?: number;
  latenessS?: number;
  /**
   * JetStream's duplicate window (default 5 s, well inside the run). Priced messages carry no
   * message id, so a redelivered enrich input's republication (about one ack wait, 5 s, later) is
   * never judged a duplicate — on nats-server 2.9 each replica judged it against its own map, and
   * at the window's edge they disagreed (see loss-report.ts). A longer window (60 s) left fewer
   * final windows on the windows stream in the short form of the run: an open question (docs/scale-out.md).
   */
  duplicateWindowS?: number;
  /**
   * The spike tenant's baseline starts this long before the other publishing (default 0). The spike
   * check needs a history of 12 windows before the spike; a short run gives it a lead instead.
   */
  spikeLeadS?: number;
  seed?: number;
  log?: (line: string) => void;
}

export interface ClusterChaosReport {
  events_unique: number;
  events_published: number;
  duplicate_events_published: number;
  messages_published: number;
  publish_retries: number;
  costline_processes: number;
  nats_nodes: number;
  stream_replicas: number;
  costline_kills: number;
  nats_kills: number;
  kills_while_publishing: number;
  /** From the killed costline process's SIGKILL until its replacement reported "stages running". */
  costline_restart_ms: number;
  /** From the NATS node's SIGKILL until the events stream had a new leader. */
  nats_leader_election_ms: number;
  /**
   * The killed process's partition leases (every stage's): how many it held, and from its SIGKILL
   * until another instance held each (first, last); null until all were taken over within 60 s.
   */
  takeover: { leases_held: number; first_ms: number | null; all_ms: number | null };
  /** alerts: lifecycles (fingerprint and first_seen); alert_messages: firing messages, escalations included. */
  spike: {
    tenant: string;
    window_start: string;
    alerts: number;
    alert_messages: number;
    severities: string[];
    alert_types: Record<string, number>;
  };
  /** Whatever the processes expose about partition leases (metrics named *lease*, KV buckets named *lease*). */
  leases: { buckets: string[]; metrics: Record<string, number>; note: string };
  /** JetStream's max-deliveries advisories by consumer: messages it stopped delivering (0 everywhere, or events were given up). */
  max_deliveries: Record<string, number>;
  /** Each stream's replicas at the end of the run, node by node (they must agree: see loss-report.ts). */
  replicas: ReplicaState[];
  /** Dead letters at the end of the run, by stage and reason (an event parked there is not in the ledger). */
  dlq: DlqSummary;
  /** Where the events the ledger lacks went (absent when none is missing). */
  loss?: LossReport;
  /** Where the processes' logs and the NATS nodes' stores are (kept after the run). */
  home: string;
  seconds: number;
  checks: ChaosCheck[];
  equal: boolean;
}

const subjects = createSubjects("costline");

export async function runClusterChaos(opts: ClusterChaosOptions): Promise<ClusterChaosReport> {
  const log = opts.log ?? (() => undefined);
  const rand = seededRandom(opts.seed ?? 1);
  const started = Date.now();
  const windowS = opts.windowS ?? 4;
  const latenessS = opts.latenessS ?? 60;
  const home = tempHome("costline-cluster-chaos-");
  const runId = randomBytes(4).toString("hex");
  const tenants = ["acme", "globex", "initech", "umbrella corp/é"].map((t) => `${t}-${runId}`);
  const spikeTenant = `spiky-${runId}`;
  const everyTenant = [...tenants, spikeTenant];
  const tenantList = everyTenant.map((t) => `'${t.replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'`).join(", ");

  const cluster = await startNatsCluster({ home });
  log(`NATS cluster up: ${cluster.url}`);
  const env: Record<string, string> = {
    ...cluster.env("pipeline"),
    COSTLINE_ACK_WAIT_S: "5",
    COSTLINE_DUPLICATE_WINDOW_S: String(opts.duplicateWindowS ?? 5),
    COSTLINE_WINDOW_S: String(windowS),
    COSTLINE_ALLOWED_LATENESS_S: String(latenessS),
    COSTLINE_WINDOW_EMIT_MS: "500",
  };
  const up = await startStack(home, { ...env, COSTLINE_CLICKHOUSE_HTTP_PORT: "0" });
  log(`costline up pid ${up.info.pid}, ClickHouse over HTTP at ${up.info.clickhouse_url}; logs and stores under ${home}`);
  const runEnv = { ...env, COSTLINE_HOME: home, CLICKHOUSE_URL: up.info.clickhouse_url!, COSTLINE_METRICS_PORT: "0" };
  const runs: RunProcess[] = [];
  // Instance ids of the harness's own, so the killed process's leases can be told apart in the lease bucket.
  const instanceIds = ["b", "c"].map((name) => `chaos-${name}-${runId}`);
  for (const [i, name] of ["b", "c"].entries())
    runs.push(await startRun([...stageNames], { ...runEnv, COSTLINE_INSTANCE_ID: instanceIds[i]! }, { logFile: runLog(home, name) }));
  log(`two more costline processes running ${stageNames.join(", ")}: pids ${runs.map((r) => r.pid).join(", ")}`);

  const nc = await connect({
    servers: cluster.nodes.map((n) => n.url),
    ...natsAuthOptions(cluster.credentials("publisher")),
    maxReconnectAttempts: -1,
    reconnectTimeWait: 200,
  });
  const js = jetstream(nc, { timeout: 5000 });
  const adminNc = await connect({
    servers: cluster.nodes.map((n) => n.url),
    ...natsAuthOptions(cluster.credentials("pipeline")),
    maxReconnectAttempts: -1,
  });
  const jsm = await jetstreamManager(adminNc);
  // JetStream's consumer advisories (a message given up after max_deliver, a message terminated), kept for the report.
  await jsm.streams.add({ name: ADVISORY_STREAM, subjects: advisorySubjects, num_replicas: 3 });

  const report = {
    events_published: 0,
    duplicate_events_published: 0,
    messages_published: 0,
    publish_retries: 0,
    costline_kills: 0,
    nats_kills: 0,
    kills_while_publishing: 0,
    costline_restart_ms: 0,
    nats_leader_election_ms: 0,
    takeover: { leases_held: 0, first_ms: null as number | null, all_ms: null as number | null },
  };
  const unique = new Map<string, { tenant: string; amount: string }>();

  async function publish(batch: CostlineEventInput[], msgID: string): Promise<void> {
    const tenant = (batch[0]!.data as { tenant: string }).tenant;
    for (;;) {
      try {
        await js.publish(subjects.events(tenant), JSON.stringify(batch), { msgID });
        report.messages_published++;
        report.events_published += batch.length;
        return;
      } catch {
        // A node down or a leader being elected: the same message again, as a producer would.
        report.publish_retries++;
        await sleep(200);
      }
    }
  }

  const event = (id: string, tenant: string, amount: string): CostlineEventInput => ({
    specversion: "1.0",
    id,
    source: "test/cluster-chaos",
    type: "costline.cost",
    time: new Date().toISOString(),
    data: { tenant, amount, currency: "USD", category: "gpu", post_id: `p-${unique.size % 97}`, user_id: `u-${unique.size % 13}` },
  });

  let publishing = true;
  let spikeAfter = Number.POSITIVE_INFINITY; // set once the kills are over
  let spikeWindowStart = "";
  // The spike tenant: one $0.01 event every 250 ms throughout, and for one
  // whole window after the kills, $0.10 each — ten times its baseline.
  const baseline = (async () => {
    let k = 0;
    let spikeEnd = Number.POSITIVE_INFINITY;
    const windowMs = windowS * 1000;
    while (publishing || Date.now() < spikeEnd + 3 * windowMs) {
      const now = Date.now();
      if (now >= spikeAfter && spikeWindowStart === "") {
        // The spike fills the next whole window.
        const start = Math.ceil(now / windowMs) * windowMs;
        spikeWindowStart = new Date(start).toISOString();
        spikeEnd = start + windowMs;
      }
      const inSpike = spikeWindowStart !== "" && now >= Date.parse(spikeWindowStart) && now < spikeEnd;
      const e = event(`cc-${runId}-spike-${k++}`, spikeTenant, inSpike ? "0.100000" : "0.010000");
      unique.set(e.id, { tenant: spikeTenant, amount: (e.data as { amount: string }).amount });
      await publish([e], e.id);
      await sleep(250);
    }
  })();

  if (opts.spikeLeadS) await sleep(opts.spikeLeadS * 1000);
  const publishStart = Date.now();
  const publisher = (async () => {
    const sent: CostlineEventInput[][] = [];
    const t0 = Date.now();
    let i = 0;
    let n = 0;
    while (i < opts.events) {
      const tenant = tenants[Math.floor(rand() * tenants.length)]!;
      const size = Math.min(opts.events - i, 1 + Math.floor(rand() * 40));
      const batch: CostlineEventInput[] = [];
      for (let k = 0; k < size; k++, i++) {
        const amount = new Decimal(Math.floor(rand() * 10_000_000))
          .div(1_000_000)
          .plus(i % 3)
          .toFixed(6);
        const e = event(`cc-${runId}-${i}`, tenant, amount);
        unique.set(e.id, { tenant, amount });
        batch.push(e);
      }
      const dupShare = opts.duplicateShare ?? 0.1;
      // About half the duplicates inside a batch, half a whole earlier batch again, re-split.
      const inBatch = batch.length > 1 && rand() < dupShare ? Math.max(1, Math.floor(batch.length * 0.2)) : 0;
      for (let k = 0; k < inBatch; k++) batch.push(batch[k]!);
      await publish(batch, `cc-${runId}-batch-${n++}`);
      report.duplicate_events_published += inBatch;
      sent.push(batch.slice(0, batch.length - inBatch));
      if (sent.length > 20 && rand() < dupShare * 0.9) {
        const again = sent[Math.floor(rand() * (sent.length - 20))]!;
        const cut = Math.max(1, Math.floor(again.length / 2));
        await publish(again.slice(0, cut), `cc-${runId}-again-${n}-a`);
        if (again.length > cut) await publish(again.slice(cut), `cc-${runId}-again-${n}-b`);
        report.duplicate_events_published += again.length;
      }
      const ahead = t0 + (i / opts.events) * opts.publishSeconds * 1000 - Date.now();
      if (ahead > 0) await sleep(ahead);
    }
    publishing = false;
  })();

  // The kills, at about 35 % (a costline process) and 60 % (the events stream's leader) of the publishing.
  const at = (share: number) => sleep(Math.max(0, publishStart + share * opts.publishSeconds * 1000 - Date.now()));
  await at(0.35);
  if (publishing) report.kills_while_publishing++;
  const victim = runs[0]!;
  const leaseKv = await new Kvm(adminNc).open(partitionBuckets.leases);
  const victimLeases = await leasesOf(leaseKv, instanceIds[0]!);
  log(`SIGKILL costline process pid ${victim.pid} (${report.events_published} events published; it held ${victimLeases.length} leases)`);
  const killedAt = Date.now();
  await victim.kill();
  report.costline_kills++;
  const takenOver = watchTakeover(leaseKv, victimLeases, instanceIds[0]!, killedAt).then((t) => {
    report.takeover = t;
    log(`takeover of ${t.leases_held} leases: first after ${t.first_ms} ms, all after ${t.all_ms} ms`);
  });
  // Started again in the background, as a supervisor would (a new instance id: a new member); the NATS kill below keeps its moment.
  const restarted = startRun([...stageNames], { ...runEnv, COSTLINE_INSTANCE_ID: `chaos-b2-${runId}` }, { logFile: victim.logFile }).then(
    (r) => {
      runs[0] = r;
      report.costline_restart_ms = Date.now() - killedAt;
      log(`restarted as pid ${r.pid} after ${report.costline_restart_ms} ms`);
    },
  );

  await at(0.6);
  if (publishing) report.kills_while_publishing++;
  const leader = (await jsm.streams.info(streamNames.events)).cluster?.leader;
  const node = Math.max(
    0,
    cluster.nodes.findIndex((x) => x.name === leader),
  );
  log(`SIGKILL nats-server ${cluster.nodes[node]!.name} (leader of ${streamNames.events}; ${report.events_published} events published)`);
  const natsKilledAt = Date.now();
  await cluster.kill(node);
  report.nats_kills++;
  await waitFor(
    "a new leader of the events stream",
    async () => {
      const l = (await jsm.streams.info(streamNames.events)).cluster?.leader;
      return l && l !== leader ? l : undefined;
    },
    60_000,
  );
  report.nats_leader_election_ms = Date.now() - natsKilledAt;
  await sleep(3000);
  await cluster.restart(node);
  log(`${cluster.nodes[node]!.name} restarted; the events stream's new leader took ${report.nats_leader_election_ms} ms`);

  await restarted;
  await takenOver;
  await at(0.8);
  spikeAfter = Date.now();
  await publisher;
  await baseline;
  log(`published ${report.events_published} events in ${report.messages_published} messages; waiting for the ledger`);

  const ledgerCount = async () =>
    Number((await up.sql<{ n: number }>(`SELECT count() AS n FROM costline.ledger FINAL WHERE tenant IN (${tenantList})`))[0]?.n ?? 0);
  const explainLoss = async (): Promise<LossReport> => {
    const loss = await lossReport({
      nc: adminNc,
      jsm,
      partitions: Number(process.env.COSTLINE_PARTITIONS ?? 8),
      unique,
      storedIds: async (tenant) =>
        (
          await up.sql<{ id: string }>(
            `SELECT DISTINCT event_id AS id FROM costline.ledger WHERE tenant = '${tenant.replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'`,
          )
        ).map((r) => r.id),
      logDir: home,
    });
    for (const line of describeLoss(loss)) log(line);
    return loss;
  };
  let loss: LossReport | undefined;
  try {
    await waitFor("the ledger to hold every unique event", async () => ((await ledgerCount()) >= unique.size ? true : undefined), 600_000);
  } catch (err) {
    // Say why before giving up: which tenant (partition) is short, which consumer holds what, who holds the leases.
    const byTenant = await up
      .sql<{ tenant: string; n: number }>(
        `SELECT tenant, count() AS n FROM costline.ledger FINAL WHERE tenant IN (${tenantList}) GROUP BY tenant`,
      )
      .catch(() => []);
    const stall = await stallReport({
      nc: adminNc,
      jsm,
      partitions: Number(process.env.COSTLINE_PARTITIONS ?? 8),
      tenants: everyTenant.map((t) => ({
        tenant: t,
        want: [...unique.values()].filter((u) => u.tenant === t).length,
        got: Number(byTenant.find((r) => r.tenant === t)?.n ?? 0),
      })),
    });
    for (const line of describeStall(stall)) log(line);
    log(`${(err as Error).message}; where the missing events went:`);
    // Not thrown: the checks below still run, and the report says where the trail of each missing event ends.
    loss = await explainLoss();
  }
  // Every window final: past its end plus the lateness by the wall clock, with a margin.
  await sleep((2 * windowS + latenessS) * 1000 + 5000);

  const checks: ChaosCheck[] = [];
  const check = (name: string, expected: string, actual: string, equal = expected === actual) =>
    checks.push({ name, expected, actual, equal });
  const want = new Map<string, { events: number; cost: Decimal }>();
  let total = new Decimal(0);
  for (const { tenant, amount } of unique.values()) {
    const w = want.get(tenant) ?? { events: 0, cost: new Decimal(0) };
    w.events++;
    w.cost = w.cost.plus(amount);
    want.set(tenant, w);
    total = total.plus(amount);
  }
  const perTenant = await up.sql<{ tenant: string; n: number; cost: string }>(
    `SELECT tenant, count() AS n, toString(sum(cost_usd)) AS cost FROM costline.ledger FINAL WHERE tenant IN (${tenantList}) GROUP BY tenant ORDER BY tenant`,
  );
  for (const t of everyTenant) {
    const got = perTenant.find((r) => r.tenant === t);
    check(`ledger events ${t}`, String(want.get(t)?.events ?? 0), String(got?.n ?? 0));
    check(
      `ledger cost_usd ${t}`,
      want.get(t)?.cost.toFixed() ?? "0",
      got?.cost ?? "0",
      new Decimal(got?.cost ?? 0).equals(want.get(t)?.cost ?? 0),
    );
  }
  const [raw] = await up.sql<{ n: number }>(`SELECT count() AS n FROM costline.ledger WHERE tenant IN (${tenantList})`);
  check("ledger rows stored (no FINAL)", String(unique.size), String(raw?.n ?? 0));
  for (const rollup of ["ledger_minute", "ledger_hour", "ledger_day_user", "ledger_post"]) {
    const [r] = await up.sql<{ n: number; cost: string }>(
      `SELECT sum(events) AS n, toString(sum(cost_usd)) AS cost FROM costline.${rollup} WHERE tenant IN (${tenantList})`,
    );
    // ledger_post holds only events that name a post: all of these do.
    check(`${rollup} events`, String(unique.size), String(r?.n ?? 0));
    check(`${rollup} cost_usd`, total.toFixed(), r?.cost ?? "0", new Decimal(r?.cost ?? 0).equals(total));
  }

  // The final tenant windows, as the detector read them: the last final aggregate per (tenant, window start).
  const finals = await finalTenantWindows(adminNc, new Set(everyTenant));
  for (const t of everyTenant) {
    const sum = [...finals.values()].filter((w) => w.tenant === t).reduce((s, w) => s.plus(w.cost_usd), new Decimal(0));
    const events = [...finals.values()].filter((w) => w.tenant === t).reduce((s, w) => s + w.events, 0);
    check(`final windows cost_usd ${t} = ledger`, want.get(t)?.cost.toFixed() ?? "0", sum.toFixed(), sum.equals(want.get(t)?.cost ?? 0));
    check(`final windows events ${t} = ledger`, String(want.get(t)?.events ?? 0), String(events));
  }

  const alerts = await up.sql<{ type: string; n: number }>(
    `SELECT type, count(DISTINCT id) AS n FROM costline.alerts FINAL WHERE tenant = '${spikeTenant}' AND status = 'firing' GROUP BY type ORDER BY type`,
  );
  const alertTypes = Object.fromEntries(alerts.map((a) => [a.type, Number(a.n)]));
  // One alert is one lifecycle of the alert book: a fingerprint from its first_seen until it resolves. Within it,
  // a partial window's alert that the window's growth makes more severe goes out again at the higher severity
  // (a new message, the same alert): counted apart, as escalations.
  const [spikeAlerts] = await up.sql<{ n: number; messages: number; severities: string[] }>(
    `SELECT count(DISTINCT (fingerprint, first_seen)) AS n, count(DISTINCT id) AS messages, ` +
      `arraySort(groupUniqArray(severity)) AS severities FROM costline.alerts FINAL ` +
      `WHERE tenant = '${spikeTenant}' AND status = 'firing' AND type = 'spike'`,
  );
  check("spike after the kills alerted exactly once", "1", String(spikeAlerts?.n ?? 0));

  const leases = await leaseReport(jsm, [up.info.api_url, ...runs.map((r) => r.opsUrl)], up.adminKey);
  // A shortfall the wait did not see (a count reached through other tenants' surplus, say) is explained too.
  if (!loss && checks.some((c) => !c.equal && c.name.startsWith("ledger events"))) loss = await explainLoss();
  const dlq = loss?.dlq ?? (await summarizeDlq(adminNc, jsm));
  const maxDeliveries: Record<string, number> = {};
  for (const a of await readAdvisories(adminNc, jsm))
    if (a.kind === "max_deliveries") maxDeliveries[a.consumer] = (maxDeliveries[a.consumer] ?? 0) + 1;
  const replicas = await replicaStates(cluster.nodes, [streamNames.events, streamNames.priced]);
  for (const r of replicas) {
    check(
      `replicas of ${r.stream} agree (messages/first/last on every node)`,
      "agree",
      r.agree ? "agree" : r.replicas.map((x) => `${x.node}${x.leader ? "*" : ""} ${x.messages}/${x.first_seq}/${x.last_seq}`).join(", "),
    );
    if (!r.agree) log(`replicas of ${r.stream} disagree: ${JSON.stringify(r.replicas)}`);
  }
  check("no message given up by JetStream (max_deliver)", "0", String(Object.values(maxDeliveries).reduce((a, b) => a + b, 0)));
  // Every event published is valid: a dead letter is an event some stage gave up on.
  check("no dead letters (every event published is valid)", "0", String(dlq.total));
  if (dlq.total) log(`dead letters: ${JSON.stringify(dlq.by)}`);

  for (const r of runs) await r.stop();
  await up.stop();
  await nc.close();
  await adminNc.close();
  await cluster.stop();
  return {
    events_unique: unique.size,
    ...report,
    costline_processes: 1 + runs.length,
    nats_nodes: cluster.nodes.length,
    stream_replicas: 3,
    spike: {
      tenant: spikeTenant,
      window_start: spikeWindowStart,
      alerts: Number(spikeAlerts?.n ?? 0),
      alert_messages: Number(spikeAlerts?.messages ?? 0),
      severities: spikeAlerts?.severities ?? [],
      alert_types: alertTypes,
    },
    leases,
    max_deliveries: maxDeliveries,
    replicas,
    dlq,
    ...(loss ? { loss } : {}),
    home,
    seconds: Math.round((Date.now() - started) / 1000),
    checks,
    equal: checks.every((c) => c.equal),
  };
}

/** Reads every tenant window on the windows stream and keeps the last final one per (tenant, window start). */
async function finalTenantWindows(nc: Awaited<ReturnType<typeof connect>>, tenants: Set<string>): Promise<Map<string, WindowAggregate>> {
  const js = jetstream(nc);
  // An ephemeral pull consumer with one filter subject (nats-server 2.9 has no filter_subjects).
  const info = await (
    await jetstreamManager(nc)
  ).consumers.add(streamNames.windows, {
    ack_policy: AckPolicy.None,
    deliver_policy: DeliverPolicy.All,
    filter_subject: subjects.windowsScope("tenant"),
    inactive_threshold: nanos(120_000),
  });
  const consumer = await js.consumers.get(streamNames.windows, info.name);
  const out = new Map<string, WindowAggregate>();
  // Until a fetch comes back empty: every window published so far has been read.
  for (;;) {
    let got = 0;
    for await (const m of await consumer.fetch({ max_messages: 1000, expires: 3000 })) {
      got++;
      for (const w of m.json<WindowAggregate[]>())
        if (w.final && w.scope === "tenant" && tenants.has(w.tenant)) out.set(`${w.tenant}|${w.window_start}`, w);
    }
    if (got === 0) break;
  }
  return out;
}

/** The partition lease keys `owner` holds now (`<group>.p.<n>`, owner in the value). */
async function leasesOf(kv: KV, owner: string): Promise<string[]> {
  const held: string[] = [];
  for await (const key of await kv.keys())
    if (/\.p\.\d+$/.test(key)) {
      const e = await kv.get(key);
      if (e?.operation === "PUT" && e.value.length && (e.json() as { owner?: string }).owner === owner) held.push(key);
    }
  return held;
}

/** Polls the leases a killed owner held until another instance holds each: the time to take over. */
async function watchTakeover(kv: KV, keys: string[], dead: string, killedAt: number): Promise<ClusterChaosReport["takeover"]> {
  const takenAt = new Map<string, number>();
  const deadline = killedAt + 60_000;
  while (takenAt.size < keys.length && Date.now() < deadline) {
    for (const key of keys) {
      if (takenAt.has(key)) continue;
      const e = await kv.get(key).catch(() => null);
      const owner = e?.operation === "PUT" && e.value.length ? (e.json() as { owner?: string }).owner : undefined;
      if (owner && owner !== dead) takenAt.set(key, Date.now() - killedAt);
    }
    await sleep(200);
  }
  const times = [...takenAt.values()];
  return {
    leases_held: keys.length,
    first_ms: times.length ? Math.min(...times) : null,
    all_ms: takenAt.size === keys.length && keys.length ? Math.max(...times) : null,
  };
}

/** What the processes say about leases, if anything: metrics with "lease" in their name, summed, and KV buckets so named. */
async function leaseReport(
  jsm: Awaited<ReturnType<typeof jetstreamManager>>,
  urls: string[],
  adminKey: string,
): Promise<ClusterChaosReport["leases"]> {
  const buckets: string[] = [];
  for await (const s of jsm.streams.list())
    if (s.config.name.startsWith("KV_") && /lease/i.test(s.config.name)) buckets.push(s.config.name.slice(3));
  const metrics: Record<string, number> = {};
  for (const url of urls) {
    try {
      const text = await (await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${adminKey}` } })).text();
      for (const m of text.matchAll(/^(\w*lease\w*)(?:\{([^}]*)\})? (\S+)$/gm)) {
        // Lease changes by kind (acquired, released, lost, stalled), summed over the stages.
        const change = /change="(\w+)"/.exec(m[2] ?? "")?.[1];
        const name = change ? `${m[1]}{change="${change}"}` : m[1]!;
        metrics[name] = (metrics[name] ?? 0) + Number(m[3]);
      }
    } catch {
      // a process that does not answer has nothing to add
    }
  }
  const none = buckets.length === 0 && Object.keys(metrics).length === 0;
  return {
    buckets,
    metrics,
    note: none
      ? "no partition leases in this build: every instance of a stage reads the same durable consumer (no lease bucket, no lease metrics)"
      : "lease metrics summed over the three processes at the end of the run",
  };
}
