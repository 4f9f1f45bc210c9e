// The chaos run: a stream of pre-priced events published while the pipeline
// process (`costline up` on an external nats-server) is SIGKILLed and
// restarted again and again, nats-server itself is killed and restarted on the
// same port and store, and the publisher sends duplicates (inside a batch, and
// re-batched later so JetStream's duplicate window cannot catch them),
// out-of-order and late events. At the end the ledger's count and exact
// Decimal sum per tenant, every rollup, and every post's total must equal what
// was uniquely published. In server mode (CLICKHOUSE_URL set) ClickHouse is
// also made unreachable for 30 s mid-run, through a TCP proxy.
//
// Used by test/integration/chaos.test.ts (the short form, in `npm test`) and
// by `npm run chaos` (test/chaos/main.ts, the long form).
import { randomBytes } from "node:crypto";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { connect } from "@nats-io/transport-node";
import { jetstream } from "@nats-io/jetstream";
import { startEmbeddedNats, freePort, type EmbeddedNats } from "../../pipeline/nats/embedded-server.ts";
import { createSubjects } from "../../pipeline/nats/subjects.ts";
import { Decimal } from "../../pipeline/pricing/decimal.ts";
import { seededRandom } from "../../pipeline/demo/traffic.ts";
import type { CostlineEventInput } from "../../schemas/index.ts";
import { startStack, tempHome, waitFor, type StackProcess } from "../helpers/stack-process.ts";
import { startOutageProxy } from "./outage-proxy.ts";

export interface ChaosOptions {
  events: number;
  /** Pipeline SIGKILLs, spread over the publishing. */
  pipelineKills: number;
  /** nats-server kills (SIGKILL, then a restart on the same port and store). */
  natsRestarts: number;
  /** Share of chunks published a second time, re-batched, later. */
  duplicateShare?: number;
  /** Publishing is paced over this long, so the kills land in the middle of it. */
  publishSeconds: number;
  /** Server mode only (CLICKHOUSE_URL set): how long ClickHouse is unreachable, once, mid-run. */
  clickhouseOutageS?: number;
  /** Share of events whose time is days old (far past the windows' lateness). */
  lateShare?: number;
  seed?: number;
  log?: (line: string) => void;
}

export interface ChaosCheck {
  name: string;
  expected: string;
  actual: string;
  equal: boolean;
}

export interface ChaosReport {
  events_unique: number;
  events_published: number;
  duplicate_events_published: number;
  late_events: number;
  messages_published: number;
  publish_retries: number;
  /** Kills (pipeline or nats) that struck while events were still being published. */
  kills_while_publishing: number;
  pipeline_kills: number;
  nats_restarts: number;
  /** Server mode: seconds ClickHouse was unreachable (0 in embedded mode, where it is in-process). */
  clickhouse_outage_s: number;
  seconds: number;
  checks: ChaosCheck[];
  equal: boolean;
}

const tenantNames = ["acme", "globex", "initech", "umbrella corp/é"];
const subjects = createSubjects("costline");
const BASE = Date.UTC(2026, 10, 22, 10, 0, 0);

function makeEvents(n: number, tenants: string[], lateShare: number, rand: () => number): CostlineEventInput[] {
  const events: CostlineEventInput[] = [];
  for (let i = 0; i < n; i++) {
    const late = rand() < lateShare;
    // Out of order: up to ±10 minutes of jitter; late: two to four days back.
    const t = late ? BASE - (2 + Math.floor(rand() * 3)) * 86_400_000 + i : BASE + i * 40 + Math.floor((rand() - 0.5) * 1_200_000);
    const amount = new Decimal(Math.floor(rand() * 10_000_000))
      .div(1_000_000)
      .plus(i % 3)
      .toFixed(6);
    events.push({
      specversion: "1.0",
      id: `chaos-${i}`,
      source: "test/chaos",
      type: "costline.cost",
      time: new Date(t).toISOString(),
      data: {
        tenant: tenants[i % tenants.length]!,
        amount,
        currency: "USD",
        category: "gpu",
        post_id: `p-${i % 97}`,
        user_id: `u-${i % 13}`,
        persona_id: `persona-${i % 5}`,
      },
    });
  }
  return events;
}

/** Batches of 1 to 40 events, all of one tenant; now and then one event twice in the same batch. */
function batchesOf(events: CostlineEventInput[], rand: () => number): { events: CostlineEventInput[]; inBatchDuplicates: number }[] {
  const byTenant = new Map<string, CostlineEventInput[]>();
  for (const e of events) {
    const t = (e.data as { tenant: string }).tenant;
    byTenant.set(t, [...(byTenant.get(t) ?? []), e]);
  }
  const out: { events: CostlineEventInput[]; inBatchDuplicates: number }[] = [];
  for (const list of byTenant.values()) {
    for (let i = 0; i < list.length;) {
      const size = 1 + Math.floor(rand() * 40);
      const batch = list.slice(i, i + size);
      i += size;
      const dup = batch.length > 1 && rand() < 0.1;
      out.push({ events: dup ? [...batch, batch[0]!] : batch, inBatchDuplicates: dup ? 1 : 0 });
    }
  }
  return out;
}

export async function runChaos(opts: ChaosOptions): Promise<ChaosReport> {
  const log = opts.log ?? (() => undefined);
  const rand = seededRandom(opts.seed ?? 1);
  const started = Date.now();
  const home = tempHome("costline-chaos-");
  // Tenants unique to this run, so the checks below see only its rows even on a shared server.
  const runId = randomBytes(4).toString("hex");
  const tenants = tenantNames.map((t) => `${t}-${runId}`);
  const tenantList = tenants.map((t) => `'${t.replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'`).join(", ");
  const server = process.env.CLICKHOUSE_URL;
  const proxy = server ? await startOutageProxy(new URL(server)) : undefined;
  const port = await freePort();
  const natsOpts = {
    bin: process.env.NATS_SERVER_BIN || "nats-server",
    storeDir: path.join(home, "external-nats"),
    logFile: path.join(home, "external-nats.log"),
    port,
  };
  let nats: EmbeddedNats = await startEmbeddedNats(natsOpts);
  // A short ack wait so messages a killed process held come back soon; a short
  // duplicate window so late duplicates get past JetStream and must be stopped by the ledger.
  const env: Record<string, string> = {
    NATS_URL: nats.url,
    COSTLINE_ACK_WAIT_S: "5",
    COSTLINE_DUPLICATE_WINDOW_S: "5",
    COSTLINE_LOG_LEVEL: "warn",
  };
  if (proxy) env.CLICKHOUSE_URL = proxy.url;
  let stack: StackProcess = await startStack(home, env);
  const nc = await connect({ servers: nats.url, maxReconnectAttempts: -1, reconnectTimeWait: 200 });
  const js = jetstream(nc, { timeout: 5000 });

  const events = makeEvents(opts.events, tenants, opts.lateShare ?? 0.05, rand);
  const batches = batchesOf(events, rand);
  // Shuffle the batches: tenants interleave and times arrive out of order.
  for (let i = batches.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [batches[i], batches[j]] = [batches[j]!, batches[i]!];
  }
  const report = {
    clickhouse_outage_s: 0,
    kills_while_publishing: 0,
    events_published: 0,
    duplicate_events_published: 0,
    messages_published: 0,
    publish_retries: 0,
    pipeline_kills: 0,
    nats_restarts: 0,
  };

  async function publish(batch: CostlineEventInput[], msgID: string): Promise<void> {
    const tenant = (batch[0]!.data as { tenant: string }).tenant;
    for (;;) {
      try {
        await js.publish(subjects.events(tenant), JSON.stringify(batch), { msgID });
        report.messages_published++;
        report.events_published += batch.length;
        return;
      } catch {
        // NATS is down or restarting: retry the same message, as a producer would.
        report.publish_retries++;
        await sleep(200);
      }
    }
  }

  let publishing = true;
  const publisher = (async () => {
    const sent: CostlineEventInput[][] = [];
    const t0 = Date.now();
    let done = 0;
    for (let i = 0; i < batches.length; i++) {
      const b = batches[i]!;
      await publish(b.events, `chaos-batch-${i}`);
      report.duplicate_events_published += b.inBatchDuplicates;
      sent.push(b.events);
      // Later, some earlier batch again, split differently: a new message id.
      if (sent.length > 20 && rand() < (opts.duplicateShare ?? 0.1)) {
        const again = sent[Math.floor(rand() * (sent.length - 20))]!;
        const cut = Math.max(1, Math.floor(again.length / 2));
        await publish(again.slice(0, cut), `chaos-again-${i}-a`);
        if (again.length > cut) await publish(again.slice(cut), `chaos-again-${i}-b`);
        report.duplicate_events_published += again.length;
      }
      // Paced: stay on the line from 0 to every event over publishSeconds.
      done += b.events.length;
      const ahead = t0 + (done / events.length) * opts.publishSeconds * 1000 - Date.now();
      if (ahead > 0) await sleep(ahead);
    }
    publishing = false;
  })();

  // The chaos: kills spread over the publishing, nats restarts in between.
  const actions: ("pipeline" | "nats" | "clickhouse")[] = [
    ...Array<"pipeline">(opts.pipelineKills).fill("pipeline"),
    ...Array<"nats">(opts.natsRestarts).fill("nats"),
  ];
  if (proxy) actions.push("clickhouse");
  for (let i = actions.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [actions[i], actions[j]] = [actions[j]!, actions[i]!];
  }
  // Kills at random moments inside the publishing, roughly evenly spread.
  const slot = (opts.publishSeconds * 1000) / (actions.length + 1);
  const chaosStart = Date.now();
  for (const [k, action] of actions.entries()) {
    const at = chaosStart + slot * (k + 0.5 + rand());
    if (at > Date.now()) await sleep(at - Date.now());
    if (publishing) report.kills_while_publishing++;
    if (action === "pipeline") {
      log(`SIGKILL pipeline pid ${stack.info.pid} (${report.events_published} events published)`);
      await stack.kill();
      report.pipeline_kills++;
      stack = await startStack(home, env);
    } else if (action === "clickhouse") {
      const seconds = opts.clickhouseOutageS ?? 30;
      log(`ClickHouse unreachable for ${seconds} s (${report.events_published} events published)`);
      await proxy!.down();
      await sleep(seconds * 1000);
      await proxy!.up();
      report.clickhouse_outage_s += seconds;
    } else {
      log(`SIGKILL nats-server pid ${nats.pid} (${report.events_published} events published)`);
      process.kill(nats.pid, "SIGKILL");
      await sleep(500);
      nats = await startEmbeddedNats(natsOpts);
      report.nats_restarts++;
    }
  }
  await publisher;
  log(`published ${report.events_published} events in ${report.messages_published} messages; waiting for the ledger`);

  // Every event, once: count and exact sums per tenant, every rollup, every post.
  const want = expectedTotals(events);
  const ledgerCount = async () =>
    Number((await stack.sql<{ n: number }>(`SELECT count() AS n FROM costline.ledger FINAL WHERE tenant IN (${tenantList})`))[0]?.n ?? 0);
  await waitFor("the ledger to hold every unique event", async () => ((await ledgerCount()) >= events.length ? true : undefined), 300_000);
  // Let the last in-flight batches settle before comparing (a doubled row would show up here).
  await sleep(2000);
  const checks: ChaosCheck[] = [];
  const check = (name: string, expected: string, actual: string, equal = expected === actual) =>
    checks.push({ name, expected, actual, equal });

  const perTenant = await stack.sql<{ tenant: string; n: number; cost: string }>(
    `SELECT tenant, count() AS n, toString(sum(cost_usd)) AS cost FROM costline.ledger FINAL WHERE tenant IN (${tenantList}) GROUP BY tenant ORDER BY tenant`,
  );
  for (const t of tenants) {
    const got = perTenant.find((r) => r.tenant === t);
    check(`ledger events ${t}`, String(want.tenants.get(t)?.events ?? 0), String(got?.n ?? 0));
    check(
      `ledger cost_usd ${t}`,
      want.tenants.get(t)?.cost.toFixed() ?? "0",
      got?.cost ?? "0",
      new Decimal(got?.cost ?? 0).equals(want.tenants.get(t)?.cost ?? 0),
    );
  }
  // Rows actually stored, before any merge: a duplicate insert would show here and in every rollup.
  const [raw] = await stack.sql<{ n: number }>(`SELECT count() AS n FROM costline.ledger WHERE tenant IN (${tenantList})`);
  check("ledger rows stored (no FINAL)", String(events.length), String(raw?.n ?? 0));
  for (const rollup of ["ledger_minute", "ledger_hour", "ledger_day_user", "ledger_post"]) {
    const [r] = await stack.sql<{ n: number; cost: string }>(
      `SELECT sum(events) AS n, toString(sum(cost_usd)) AS cost FROM costline.${rollup} WHERE tenant IN (${tenantList})`,
    );
    check(`${rollup} events`, String(events.length), String(r?.n ?? 0));
    check(`${rollup} cost_usd`, want.total.toFixed(), r?.cost ?? "0", new Decimal(r?.cost ?? 0).equals(want.total));
  }
  const posts = await stack.sql<{ tenant: string; post_id: string; cost: string }>(
    `SELECT tenant, post_id, toString(sum(cost_usd)) AS cost FROM costline.ledger_post WHERE tenant IN (${tenantList}) GROUP BY tenant, post_id`,
  );
  let postsEqual = posts.length === want.posts.size;
  for (const p of posts) if (!new Decimal(p.cost).equals(want.posts.get(`${p.tenant}|${p.post_id}`) ?? -1)) postsEqual = false;
  check(
    "per-post totals (ledger_post)",
    `${want.posts.size} posts equal`,
    `${posts.length} posts, ${postsEqual ? "all equal" : "some differ"}`,
    postsEqual,
  );

  await stack.stop();
  await nc.close();
  await nats.stop();
  await proxy?.close();
  return {
    events_unique: events.length,
    late_events: events.filter((e) => Date.parse(e.time!) < BASE - 86_400_000).length,
    ...report,
    seconds: Math.round((Date.now() - started) / 1000),
    checks,
    equal: checks.every((c) => c.equal),
  };
}

function expectedTotals(events: CostlineEventInput[]) {
  const tenantTotals = new Map<string, { events: number; cost: Decimal }>();
  const posts = new Map<string, Decimal>();
  let total = new Decimal(0);
  for (const e of events) {
    const d = e.data as { tenant: string; amount: string; post_id: string };
    const t = tenantTotals.get(d.tenant) ?? { events: 0, cost: new Decimal(0) };
    t.events++;
    t.cost = t.cost.plus(d.amount);
    tenantTotals.set(d.tenant, t);
    const k = `${d.tenant}|${d.post_id}`;
    posts.set(k, (posts.get(k) ?? new Decimal(0)).plus(d.amount));
    total = total.plus(d.amount);
  }
  return { tenants: tenantTotals, posts, total };
}
