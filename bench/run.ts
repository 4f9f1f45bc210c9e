// End-to-end benchmark: `npm run bench -- --out FILE [--events N] [--batch K]`.
//
// Starts `costline up` (embedded NATS and ClickHouse) as a child process on a
// scratch $COSTLINE_HOME and measures, in the same run:
//   1. the ceiling: raw JetStream publishing of the same messages to a scratch stream;
//   2. end-to-end throughput: the same messages published to the events
//      subject, timed until the ledger holds every event;
//   3. ledger freshness: a paced phase whose events carry their publish time,
//      compared with the time ClickHouse stored them (ingested_at);
//   4. alert latency: a burst on one tenant under 5,000 events/s of background
//      traffic, from its publish to the spike alert on the alerts subject;
//      `--runs N` repeats the phase N times (fresh tenants each run, the
//      background going on), reporting each run's detected/injected, p50/p99
//      and the CPU time the stack spent;
//   5. control reaction: from publishing the event that crosses a hard budget
//      to a guard in another process denying;
//   6. peak RSS of the pipeline process and of its nats-server.
// Each phase reports the CPU time the pipeline process and its nats-server
// spent on it, and that time ÷ the phase's events (`cpu_us_per_event`); the
// throughput phases run twice, with one event per message and with
// `--batched-size`-event batch messages (one tenant's events per message).
// The stack runs with one-second windows so baselines build in seconds.
import { spawn } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { createInterface } from "node:readline";
import { Kvm } from "@nats-io/kv";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { setTimeout as sleep } from "node:timers/promises";
import { DeliverPolicy, jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager, type JsMsg } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { connectStack, stackNatsEnv } from "../test/helpers/stack-nats.ts";
import { nanos } from "@nats-io/nats-core";
import { demoEvent, seededRandom } from "../pipeline/demo/traffic.ts";
import { createSubjects, streamNames, subjectToken } from "../pipeline/nats/subjects.ts";
import { batchMsgIdOf, msgIdOf } from "../pipeline/producer/producer.ts";
import { budgetSchema, type CostlineEventInput } from "../schemas/index.ts";
import { budgetKvKey } from "../pipeline/budgets/budget-key.ts";
import { startStack, waitFor } from "../test/helpers/stack-process.ts";
import { peakRssMb } from "../test/helpers/process-memory.ts";
import { cpuSeconds, startCpuMeter, type PhaseCpu, type StackPids } from "./process-stats.ts";
import { backlog, ledgerCaughtUp, waitForDrain } from "./backlog.ts";

const { values: args } = parseArgs({
  options: {
    out: { type: "string", default: "bench-result.json" },
    events: { type: "string", default: "40000" },
    batch: { type: "string", default: "1" },
    "paced-rate": { type: "string", default: "500" },
    "paced-seconds": { type: "string", default: "6" },
    window: { type: "string", default: "2000" },
    "background-rate": { type: "string", default: "5000" },
    spikes: { type: "string", default: "10" },
    budgets: { type: "string", default: "10" },
    runs: { type: "string", default: "1" },
    /** The batched throughput phase: this many events in messages of `--batched-size` events (0 skips it). */
    "batched-events": { type: "string", default: "200000" },
    "batched-size": { type: "string", default: "100" },
    /** Only the alert-latency phase (with its runs): for measuring it on a busy machine. */
    "alerts-only": { type: "boolean", default: false },
    /** Only the throughput phases (ceiling and end to end, single and batched): for CPU-per-event work. */
    "throughput-only": { type: "boolean", default: false },
  },
});
const N = Number(args.events);
const BATCH = Number(args.batch);
const BATCHED_EVENTS = Number(args["batched-events"]);
const BATCHED_SIZE = Number(args["batched-size"]);
const WINDOW = Number(args.window);
const subjects = createSubjects("costline");

type Msg = { subject: string; payload: string; msgID: string; events: number };

/**
 * The same message construction for the ceiling and the pipeline; ids are
 * fresh per phase. With `batch` > 1 each message carries up to `batch` events
 * of one tenant (a batch travels on its tenant's subject, which vouches for it).
 */
function buildMessages(count: number, phase: string, subjectOf: (tenant: string) => string, batch = BATCH): Msg[] {
  const r = seededRandom(42);
  const msgs: Msg[] = [];
  const open = new Map<string, CostlineEventInput[]>();
  const close = (tenant: string, events: CostlineEventInput[]) => {
    const first = events[0]!;
    msgs.push({
      subject: subjectOf(tenant),
      payload: JSON.stringify(batch === 1 ? first : events),
      msgID: batch === 1 ? msgIdOf(first) : batchMsgIdOf(events),
      events: events.length,
    });
  };
  const now = new Date();
  for (let i = 0; i < count; i++) {
    const e = demoEvent(r, now, `bench/${phase}`);
    const tenant = (e.data as { tenant: string }).tenant;
    const list = open.get(tenant) ?? [];
    list.push(e);
    open.set(tenant, list);
    if (list.length >= batch) {
      close(tenant, list);
      open.delete(tenant);
    }
  }
  for (const [tenant, list] of open) close(tenant, list);
  return msgs;
}

/** Publishes with at most WINDOW unacknowledged messages in flight; returns seconds taken. */
async function publishAll(js: JetStreamClient, msgs: Msg[]): Promise<number> {
  const start = performance.now();
  let next = 0;
  const worker = async () => {
    while (next < msgs.length) {
      const m = msgs[next++]!;
      await js.publish(m.subject, m.payload, { msgID: m.msgID });
    }
  };
  await Promise.all(Array.from({ length: Math.min(WINDOW, msgs.length) }, worker));
  return (performance.now() - start) / 1000;
}

function quantile(xs: number[], q: number): number | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  return Math.round(s[Math.min(s.length - 1, Math.floor(q * s.length))]!);
}

const perEvent = (cpuS: number | null, events: number) =>
  cpuS === null || events <= 0 ? null : Number(((cpuS * 1e6) / events).toFixed(1));

async function measureAlertLatency(
  js: JetStreamClient,
  nc: NatsConnection,
  backgroundRate: number,
  spikes: number,
  runs: number,
  pids: StackPids,
) {
  const r = seededRandom(99);
  let seq = 0;
  const call = (tenant: string, out: number): CostlineEventInput => ({
    specversion: "1.0",
    id: `lat-${seq++}`,
    source: "bench/latency",
    type: "costline.llm.usage",
    time: new Date().toISOString(),
    data: {
      tenant,
      persona_id: "p",
      post_id: `post-${seq % 7}`,
      provider: "openai",
      model: "gpt-4o-mini",
      usage: { input_tokens: 500, output_tokens: out },
    },
  });
  const seen = new Map<string, number>();
  // Every alert and final tenant window the phase saw: when nothing is detected, these say which link failed.
  const observed = { alerts: 0, spikeAlerts: 0, tenantWindows: 0, spikeSamples: [] as string[] };
  // Ordered JetStream consumers, not core subscriptions: a role may subscribe only to its own inbox.
  // One filter as a string: a list of filters needs nats-server 2.10, Debian's is 2.9.
  const follow = async (stream: string, filter: string, onMessage: (m: JsMsg) => void) => {
    const consumer = await js.consumers.get(stream, { filter_subjects: filter, deliver_policy: DeliverPolicy.New });
    const messages = await consumer.consume();
    void (async () => {
      for await (const m of messages) onMessage(m);
    })();
    return messages;
  };
  const sub = await follow(streamNames.alerts, "costline.alerts.>", (m) => {
    const a = m.json<{ tenant: string; type: string; status: string; scope: string }>();
    observed.alerts++;
    if (a.type === "spike") observed.spikeAlerts++;
    if (a.type === "spike" && observed.spikeSamples.length < 12) observed.spikeSamples.push(`${a.tenant}/${a.scope}/${a.status}`);
    if (a.type === "spike" && a.status === "firing" && a.scope === "tenant" && !seen.has(a.tenant)) seen.set(a.tenant, performance.now());
  });
  // Final tenant windows published per target: a run's bursts start once every target has a baseline.
  const finals = new Map<string, number>();
  const windowsSub = await follow(streamNames.windows, subjects.windowsScope("tenant"), (m) => {
    for (const w of m.json<{ tenant: string; final: boolean }[]>())
      if (w.final) {
        observed.tenantWindows++;
        if (w.tenant.startsWith("latency-")) finals.set(w.tenant, (finals.get(w.tenant) ?? 0) + 1);
      }
  });
  const publishAllNow = (events: CostlineEventInput[]) =>
    Promise.all(
      events.map((e) => js.publish(subjects.events((e.data as { tenant: string }).tenant), JSON.stringify(e), { msgID: msgIdOf(e) })),
    );
  let stop = false;
  // The tenants of the run under way get ten calls a second each, on top of the demo traffic.
  let targets: string[] = [];
  let published = 0;
  // Background: demo traffic plus ten calls a second per target tenant, in 100 ms ticks.
  const background = (async () => {
    while (!stop) {
      const tick = performance.now();
      const events: CostlineEventInput[] = Array.from({ length: Math.round(backgroundRate / 10) }, () =>
        demoEvent(r, new Date(), "bench/background"),
      );
      for (const t of targets) events.push(call(t, 400));
      await publishAllNow(events);
      published += events.length;
      await sleep(Math.max(0, 100 - (performance.now() - tick)));
    }
  })();
  const all: number[] = [];
  const perRun: Record<string, unknown>[] = [];
  for (let run = 0; run < runs; run++) {
    targets = Array.from({ length: spikes }, (_, i) => `latency-${run}-${i}`);
    const started = performance.now();
    const publishedBefore = published;
    const cpu0 = { stack: cpuSeconds(pids.pipeline), nats: cpuSeconds(pids.nats), bench: process.cpuUsage() };
    // Baselines: at least 16 s, and until every target has 14 final one-second windows
    // (the detector judges from 12), so a lagging pipeline is not timed on tenants it cannot judge yet.
    await sleep(16_000);
    const baselineDeadline = performance.now() + 60_000;
    while (targets.some((t) => (finals.get(t) ?? 0) < 14) && performance.now() < baselineDeadline) await sleep(100);
    const baselineS = Number(((performance.now() - started) / 1000).toFixed(1));
    const baselineFinals = Math.min(...targets.map((t) => finals.get(t) ?? 0));
    const latencies: number[] = [];
    for (const t of targets) {
      const start = performance.now();
      await publishAllNow(Array.from({ length: 40 }, () => call(t, 4000)));
      const deadline = start + 10_000;
      while (!seen.has(t) && performance.now() < deadline) await sleep(5);
      if (seen.has(t)) latencies.push(seen.get(t)! - start);
      await sleep(1500);
    }
    const wall = (performance.now() - started) / 1000;
    // Bursts whose alert came after their 10 s wait (seen while later targets were timed).
    const late = targets.filter((t) => seen.has(t)).length - latencies.length;
    const cpu = (a: number | null, b: number | null) => (a === null || b === null ? null : Number((b - a).toFixed(2)));
    const benchCpu = process.cpuUsage(cpu0.bench);
    const result = {
      run: run + 1,
      detected: latencies.length,
      injected: targets.length,
      detected_after_10s: late,
      p50: quantile(latencies, 0.5),
      p99: quantile(latencies, 0.99),
      max: latencies.length ? Math.round(Math.max(...latencies)) : null,
      background_events_per_s_achieved: Math.round((published - publishedBefore) / wall),
      seconds: Number(wall.toFixed(1)),
      baseline_s: baselineS,
      // The fewest final one-second windows a target had when its burst began (14 wanted), and what the phase saw so far.
      baseline_finals_min: baselineFinals,
      observed: { ...observed },
      // CPU seconds spent in the run, and the machine's 1-minute load average at its end.
      cpu_s: {
        stack: cpu(cpu0.stack, cpuSeconds(pids.pipeline)),
        nats_server: cpu(cpu0.nats, cpuSeconds(pids.nats)),
        bench: Number(((benchCpu.user + benchCpu.system) / 1e6).toFixed(2)),
      },
      cpu_us_per_event: {
        pipeline: perEvent(cpu(cpu0.stack, cpuSeconds(pids.pipeline)), published - publishedBefore),
        nats_server: perEvent(cpu(cpu0.nats, cpuSeconds(pids.nats)), published - publishedBefore),
      },
      load_avg_1m: Number(os.loadavg()[0]!.toFixed(2)),
    };
    process.stderr.write(`alert run ${run + 1}/${runs}: ${JSON.stringify(result)}\n`);
    perRun.push(result);
    all.push(...latencies);
  }
  stop = true;
  await background;
  await sub.close();
  await windowsSub.close();
  return {
    p50: quantile(all, 0.5),
    p99: quantile(all, 0.99),
    detected: all.length,
    injected: runs * spikes,
    background_events_per_s: backgroundRate,
    runs: perRun,
  };
}

/**
 * Waits until enrich and the ledger sink have settled every message and the
 * ledger holds `expected` events. Polls NATS (which costs the pipeline process
 * nothing) and asks the ledger only once NATS says it has caught up.
 */
async function waitForLedger(jsm: JetStreamManager, ledgerEvents: () => Promise<number>, expected: number): Promise<void> {
  let lastCount = 0;
  await waitFor(
    "the ledger to hold every event",
    async () => {
      if (!ledgerCaughtUp(await backlog(jsm))) return undefined;
      if (Date.now() - lastCount < 1000) return undefined;
      lastCount = Date.now();
      return (await ledgerEvents()) >= expected ? true : undefined;
    },
    600_000,
  );
}

interface ThroughputPhase {
  events: number;
  messages: number;
  batch_size: number;
  ceiling_events_per_s: number;
  events_per_s: number;
  seconds: number;
  ratio_to_ceiling: number;
  /** CPU while raw JetStream publishing ran: nats-server's share of the ceiling; the pipeline idles. */
  ceiling_cpu: PhaseCpu;
  /** CPU from the first publish until every stage has settled every message (windows final included). */
  cpu: PhaseCpu;
}

/** The ceiling (raw JetStream, a scratch stream configured like COSTLINE_EVENTS), then the same messages end to end. */
async function measureThroughput(
  js: JetStreamClient,
  jsm: JetStreamManager,
  pids: StackPids,
  ledgerEvents: () => Promise<number>,
  opts: { events: number; batch: number; phase: string },
): Promise<ThroughputPhase> {
  const { events: n, batch, phase } = opts;
  // The bench connects as the operator, who may create streams and publish under the prefix but
  // not delete streams: each phase's scratch stream stays (in the bench's scratch home).
  const events = await jsm.streams.info("COSTLINE_EVENTS");
  const prefix = `costline.bench-ceiling-${phase}`;
  await jsm.streams.add({
    ...events.config,
    name: `BENCH_CEILING_${phase.toUpperCase()}`,
    subjects: [`${prefix}.>`],
    duplicate_window: nanos(600_000),
  });
  const ceilingMsgs = buildMessages(n, `${phase}-ceiling`, (t) => `${prefix}.${subjectToken(t)}`, batch);
  const ceilingMeter = startCpuMeter(pids);
  const ceilingSeconds = await publishAll(js, ceilingMsgs);
  const ceilingCpu = ceilingMeter.end(n);
  const ceiling = n / ceilingSeconds;
  process.stderr.write(`${phase} ceiling: ${n} events in ${ceilingSeconds.toFixed(2)} s = ${Math.round(ceiling)} events/s\n`);

  const before = await ledgerEvents();
  const msgs = buildMessages(n, phase, subjects.events, batch);
  const meter = startCpuMeter(pids);
  const t0 = performance.now();
  const publishSeconds = await publishAll(js, msgs);
  process.stderr.write(`  published in ${publishSeconds.toFixed(2)} s\n`);
  await waitForLedger(jsm, ledgerEvents, before + n);
  const seconds = (performance.now() - t0) / 1000;
  await waitForDrain(jsm, { settled: true });
  const cpu = meter.end(n);
  const rate = n / seconds;
  process.stderr.write(
    `${phase} end to end: ${n} events in ${seconds.toFixed(2)} s = ${Math.round(rate)} events/s; ${JSON.stringify(cpu)}\n`,
  );
  return {
    events: n,
    messages: msgs.length,
    batch_size: batch,
    ceiling_events_per_s: Math.round(ceiling),
    events_per_s: Math.round(rate),
    seconds: Number(seconds.toFixed(3)),
    ratio_to_ceiling: Number((rate / ceiling).toFixed(3)),
    ceiling_cpu: ceilingCpu,
    cpu,
  };
}

/** From publishing the event that crosses a hard budget to a guard in another process denying. */
async function measureGuardReaction(
  js: JetStreamClient,
  nc: NatsConnection,
  natsUrl: string,
  budgets: number,
  guardEnv: Record<string, string>,
) {
  const tenants = Array.from({ length: budgets }, (_, i) => `budget-${i}`);
  const kv = await new Kvm(nc).open("costline-budgets");
  for (const t of tenants) {
    const budget = budgetSchema.parse({ scope: { tenant: t }, period: "monthly", amount_usd: "0.05", hard: true });
    await kv.put(budgetKvKey(budget), JSON.stringify(budget));
  }
  const child = spawn(process.execPath, ["--import", "tsx", path.join(import.meta.dirname, "guard-watcher.ts"), natsUrl, ...tenants], {
    stdio: ["ignore", "pipe", "inherit"],
    env: { ...process.env, ...guardEnv },
  });
  const deniedAt = new Map<string, number>();
  let ready: () => void = () => undefined;
  const isReady = new Promise<void>((r) => (ready = r));
  createInterface({ input: child.stdout! }).on("line", (line) => {
    if (line === "ready") return ready();
    const [t, ms] = line.split(" ");
    deniedAt.set(t!, Number(ms));
  });
  await isReady;
  await sleep(1000); // the detector has applied the budgets
  let seq = 0;
  const call = (tenant: string, out: number): CostlineEventInput => ({
    specversion: "1.0",
    id: `budget-${seq++}`,
    source: "bench/budget",
    type: "costline.llm.usage",
    time: new Date().toISOString(),
    data: { tenant, provider: "openai", model: "gpt-4o-mini", usage: { input_tokens: 100, output_tokens: out } },
  });
  const latencies: number[] = [];
  for (const t of tenants) {
    // 0.6 × 40,000 tokens × $0.60 per 1M = $0.024 first (48 %), then the crossing call of $0.03.
    const warm = call(t, 40_000);
    await js.publish(subjects.events(t), JSON.stringify(warm), { msgID: msgIdOf(warm) });
    await sleep(3500); // its one-second window is final (end + 2 s lateness): the spend is committed
    const crossing = call(t, 50_000);
    const sent = Date.now();
    await js.publish(subjects.events(t), JSON.stringify(crossing), { msgID: msgIdOf(crossing) });
    const deadline = sent + 10_000;
    while (!deniedAt.has(t) && Date.now() < deadline) await sleep(5);
    if (deniedAt.has(t)) latencies.push(deniedAt.get(t)! - sent);
  }
  child.kill();
  return { p50: quantile(latencies, 0.5), p99: quantile(latencies, 0.99), denied: latencies.length, budgets: tenants.length };
}

async function main() {
  const home = mkdtempSync(path.join(os.tmpdir(), "costline-bench-"));
  // COSTLINE_BENCH_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" profiles the pipeline process.
  const nodeArgs = (process.env.COSTLINE_BENCH_NODE_ARGS ?? "").split(" ").filter(Boolean);
  // One-second windows, so the alert-latency phase builds its baselines in seconds, not minutes.
  const stack = await startStack(
    home,
    // Leases of 30 s, not 10: the one process owns every partition, and on a shared machine a renewal
    // can land after 10 s, which restarts every partition mid-phase (the bench times work, not failover).
    { COSTLINE_LOG_LEVEL: "warn", COSTLINE_WINDOW_S: "1", COSTLINE_ALLOWED_LATENESS_S: "2", COSTLINE_LEASE_TTL_MS: "30000" },
    [],
    nodeArgs,
  );
  const ledgerEvents = async () => (await stack.api<{ events: number }>("/v1/totals")).events;
  // As the producer SDK connects: no stack capture per publish in case its ack fails (a third of the
  // publisher's CPU, which shares the two cores with the stack it measures).
  const nc = await connectStack(stack, "operator", { noAsyncTraces: true });
  const js = jetstream(nc, { timeout: 30_000 });
  const jsm = await jetstreamManager(nc);
  const pids: StackPids = { pipeline: stack.info.pid, nats: stack.info.nats_pid ?? null };
  try {
    const alertsOnly = args["alerts-only"] === true;
    // What the idle stack spends (timers, health polls, the engine's background work), to read the phases against.
    const idleMeter = startCpuMeter(pids);
    await sleep(5000);
    const idle = idleMeter.end(0);
    const idleCpuMsPerS = {
      pipeline: idle.cpu_s.pipeline === null ? null : Number(((idle.cpu_s.pipeline * 1000) / idle.wall_s).toFixed(1)),
      nats_server: idle.cpu_s.nats_server === null ? null : Number(((idle.cpu_s.nats_server * 1000) / idle.wall_s).toFixed(1)),
    };
    let single: ThroughputPhase | undefined;
    let batched: ThroughputPhase | undefined;
    let fresh: { p50: number; p99: number; n: string } | undefined;
    let pacedCpu: PhaseCpu | undefined;
    const rate = Number(args["paced-rate"]);
    const throughputOnly = args["throughput-only"] === true;
    if (!alertsOnly) {
      // 1–2. Ceiling and end to end, one event per message (or --batch).
      if (N > 0) single = await measureThroughput(js, jsm, pids, ledgerEvents, { events: N, batch: BATCH, phase: "e2e" });
      // The same with batch messages: the producer SDK's publishBatch shape.
      if (BATCHED_EVENTS > 0)
        batched = await measureThroughput(js, jsm, pids, ledgerEvents, { events: BATCHED_EVENTS, batch: BATCHED_SIZE, phase: "batched" });
    }
    if (!alertsOnly && !throughputOnly) {
      // 3. Freshness at a steady rate: each event's time is its publish time.
      const seconds = Number(args["paced-seconds"]);
      const r = seededRandom(7);
      const tickMs = 20;
      const perTick = Math.max(1, Math.round((rate * tickMs) / 1000));
      const before = await ledgerEvents();
      const meter = startCpuMeter(pids);
      const pacedStart = performance.now();
      let paced = 0;
      const inflight: Promise<unknown>[] = [];
      while (performance.now() - pacedStart < seconds * 1000) {
        for (let k = 0; k < perTick; k++) {
          const e = demoEvent(r, new Date(), "bench/paced");
          inflight.push(js.publish(subjects.events((e.data as { tenant: string }).tenant), JSON.stringify(e), { msgID: msgIdOf(e) }));
          paced++;
        }
        await sleep(tickMs);
      }
      await Promise.all(inflight);
      await waitForLedger(jsm, ledgerEvents, before + paced);
      pacedCpu = meter.end(paced);
      [fresh] = await stack.sql<{ p50: number; p99: number; n: string }>(
        "SELECT quantileExact(0.5)(d) AS p50, quantileExact(0.99)(d) AS p99, count() AS n FROM (SELECT dateDiff('millisecond', time, ingested_at) AS d FROM costline.ledger FINAL WHERE source = 'bench/paced')",
      );
    }

    // 4. Alert latency: steady per-tenant traffic under a 5,000 events/s background, then a
    //    burst on one tenant at a time; from the burst's publish to its alert on the subject.
    //    It starts once the earlier phases' backlog has drained: it times alerting under the
    //    background, not the queue the throughput phase left.
    let alertLatency: Awaited<ReturnType<typeof measureAlertLatency>> | null = null;
    if (!throughputOnly) {
      const drainedBeforeMs = await waitForDrain(jsm);
      process.stderr.write(`  backlog drained ${drainedBeforeMs} ms before the alert phase\n`);
      alertLatency = await measureAlertLatency(
        js,
        nc,
        Number(args["background-rate"]),
        Number(args.spikes),
        Math.max(1, Number(args.runs)),
        pids,
      );
      process.stderr.write(`alert latency: ${JSON.stringify(alertLatency)}\n`);
    }

    let guardReaction: Awaited<ReturnType<typeof measureGuardReaction>> | null = null;
    if (!alertsOnly && !throughputOnly) {
      // 5. Control reaction: a hard budget crossed → a guard in another process denies.
      //    Measured once the earlier phases' backlog has drained, so it times the
      //    reaction itself, not the queue in front of it.
      const drainedAfterMs = await waitForDrain(jsm);
      process.stderr.write(`  backlog drained ${drainedAfterMs} ms after the alert phase\n`);
      guardReaction = await measureGuardReaction(js, nc, stack.info.nats_url, Number(args.budgets), stackNatsEnv(stack, "publisher"));
      process.stderr.write(`guard reaction: ${JSON.stringify(guardReaction)}\n`);
    }

    const result = {
      events: N,
      batch_size: BATCH,
      seconds: single?.seconds ?? null,
      events_per_s: single?.events_per_s ?? null,
      jetstream_ceiling_events_per_s: single?.ceiling_events_per_s ?? null,
      ratio_to_ceiling: single?.ratio_to_ceiling ?? null,
      /** The end-to-end phase: process CPU time ÷ events. */
      cpu_us_per_event: single?.cpu.cpu_us_per_event ?? null,
      idle_cpu_ms_per_s: idleCpuMsPerS,
      batched: batched ?? null,
      phases: { e2e: single ?? null, batched: batched ?? null, paced: pacedCpu ?? null },
      ledger_freshness_ms: { p50: fresh?.p50 ?? null, p99: fresh?.p99 ?? null, events: Number(fresh?.n ?? 0), rate_events_per_s: rate },
      alerts_only: alertsOnly,
      alert_latency_ms: alertLatency,
      guard_reaction_ms: guardReaction,
      rss_mb: peakRssMb(stack.info.pid),
      nats_server_rss_mb: peakRssMb(stack.info.nats_pid),
      machine: { cpus: os.cpus().length, node: process.version, load_avg: os.loadavg().map((x) => Number(x.toFixed(2))) },
    };
    writeFileSync(args.out!, `${JSON.stringify(result, null, 2)}\n`);
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  } finally {
    await nc.close();
    await stack.stop();
  }
}

await main();
