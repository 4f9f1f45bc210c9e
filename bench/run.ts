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
// The stack runs with one-second windows so baselines build in seconds.
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { createInterface } from "node:readline";
import { Kvm } from "@nats-io/kv";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { setTimeout as sleep } from "node:timers/promises";
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { connectStack, stackNatsEnv } from "../test/helpers/stack-nats.ts";
import { nanos } from "@nats-io/nats-core";
import { demoEvent, seededRandom } from "../pipeline/demo/traffic.ts";
import { createSubjects } from "../pipeline/nats/subjects.ts";
import { msgIdOf } from "../pipeline/producer/producer.ts";
import { budgetSchema, type CostlineEventInput } from "../schemas/index.ts";
import { budgetKvKey } from "../pipeline/budgets/budget-key.ts";
import { startStack, waitFor } from "../test/helpers/stack-process.ts";
import { peakRssMb } from "../test/helpers/process-memory.ts";

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
    /** Only the alert-latency phase (with its runs): for measuring it on a busy machine. */
    "alerts-only": { type: "boolean", default: false },
  },
});
const N = Number(args.events);
const BATCH = Number(args.batch);
const WINDOW = Number(args.window);
const subjects = createSubjects("costline");

type Msg = { subject: string; payload: string; msgID: string; events: number };

/** The same message construction for the ceiling and the pipeline; ids are fresh per phase. */
function buildMessages(count: number, phase: string, subjectOf: (tenant: string) => string): Msg[] {
  const r = seededRandom(42);
  const msgs: Msg[] = [];
  for (let i = 0; i < count; i += BATCH) {
    const events: CostlineEventInput[] = [];
    for (let j = i; j < Math.min(count, i + BATCH); j++) events.push(demoEvent(r, new Date(), `bench/${phase}`));
    const first = events[0]!;
    msgs.push({
      subject: subjectOf((first.data as { tenant: string }).tenant),
      payload: JSON.stringify(BATCH === 1 ? first : events),
      msgID: BATCH === 1 ? msgIdOf(first) : `batch|${msgIdOf(first)}|${events.length}`,
      events: events.length,
    });
  }
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

/** CPU seconds (user + system) a process has used so far, from /proc (null where there is none). */
function cpuSeconds(pid: number | null | undefined): number | null {
  if (!pid) return null;
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (100 Hz)
  } catch {
    return null;
  }
}

async function measureAlertLatency(
  js: JetStreamClient,
  nc: NatsConnection,
  backgroundRate: number,
  spikes: number,
  runs: number,
  pids: { stack: number; nats: number | null },
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
  const sub = nc.subscribe("costline.alerts.>", {
    callback: (_err, m) => {
      const a = m.json<{ tenant: string; type: string; status: string; scope: string }>();
      if (a.type === "spike" && a.status === "firing" && a.scope === "tenant" && !seen.has(a.tenant)) seen.set(a.tenant, performance.now());
    },
  });
  // Final tenant windows published per target: a run's bursts start once every target has a baseline.
  const finals = new Map<string, number>();
  const windowsSub = nc.subscribe(subjects.windows("tenant"), {
    callback: (_err, m) => {
      for (const w of m.json<{ tenant: string; final: boolean }[]>())
        if (w.final && w.tenant.startsWith("latency-")) finals.set(w.tenant, (finals.get(w.tenant) ?? 0) + 1);
    },
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
    const cpu0 = { stack: cpuSeconds(pids.stack), nats: cpuSeconds(pids.nats), bench: process.cpuUsage() };
    // Baselines: at least 16 s, and until every target has 14 final one-second windows
    // (the detector judges from 12), so a lagging pipeline is not timed on tenants it cannot judge yet.
    await sleep(16_000);
    const baselineDeadline = performance.now() + 60_000;
    while (targets.some((t) => (finals.get(t) ?? 0) < 14) && performance.now() < baselineDeadline) await sleep(100);
    const baselineS = Number(((performance.now() - started) / 1000).toFixed(1));
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
    const cpu = (a: number | null, b: number | null) => (a === null || b === null ? null : Number((b - a).toFixed(2)));
    const benchCpu = process.cpuUsage(cpu0.bench);
    const result = {
      run: run + 1,
      detected: latencies.length,
      injected: targets.length,
      p50: quantile(latencies, 0.5),
      p99: quantile(latencies, 0.99),
      max: latencies.length ? Math.round(Math.max(...latencies)) : null,
      background_events_per_s_achieved: Math.round((published - publishedBefore) / wall),
      seconds: Number(wall.toFixed(1)),
      baseline_s: baselineS,
      // CPU seconds spent in the run, and the machine's 1-minute load average at its end.
      cpu_s: {
        stack: cpu(cpu0.stack, cpuSeconds(pids.stack)),
        nats_server: cpu(cpu0.nats, cpuSeconds(pids.nats)),
        bench: Number(((benchCpu.user + benchCpu.system) / 1e6).toFixed(2)),
      },
      load_avg_1m: Number(os.loadavg()[0]!.toFixed(2)),
    };
    process.stderr.write(`alert run ${run + 1}/${runs}: ${JSON.stringify(result)}\n`);
    perRun.push(result);
    all.push(...latencies);
  }
  stop = true;
  await background;
  sub.unsubscribe();
  windowsSub.unsubscribe();
  return {
    p50: quantile(all, 0.5),
    p99: quantile(all, 0.99),
    detected: all.length,
    injected: runs * spikes,
    background_events_per_s: backgroundRate,
    runs: perRun,
  };
}

/** Waits until no durable consumer of the pipeline has undelivered messages; returns how long that took. */
async function waitForDrain(jsm: JetStreamManager): Promise<number> {
  const started = Date.now();
  const durables: [string, string][] = [
    ["COSTLINE_EVENTS", "enrich"],
    // The partitioned stages: one consumer per partition (COSTLINE_PARTITIONS, default 8).
    ...Array.from({ length: Number(process.env.COSTLINE_PARTITIONS ?? 8) }, (_, p): [string, string][] => [
      ["COSTLINE_PRICED", `ledger-p${p}`],
      ["COSTLINE_PRICED", `windower-p${p}`],
    ]).flat(),
    ["COSTLINE_WINDOWS", "detector"],
    ["COSTLINE_WINDOWS", "detector-posts"],
  ];
  await waitFor(
    "the pipeline's backlog to drain",
    async () => {
      for (const [stream, durable] of durables) if ((await jsm.consumers.info(stream, durable)).num_pending > 0) return undefined;
      return true;
    },
    300_000,
  );
  return Date.now() - started;
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
    { COSTLINE_LOG_LEVEL: "warn", COSTLINE_WINDOW_S: "1", COSTLINE_ALLOWED_LATENESS_S: "2" },
    [],
    nodeArgs,
  );
  const ledgerEvents = async () => (await stack.api<{ events: number }>("/v1/totals")).events;
  const nc = await connectStack(stack);
  const js = jetstream(nc, { timeout: 30_000 });
  const jsm = await jetstreamManager(nc);
  try {
    const alertsOnly = args["alerts-only"] === true;
    let ceiling = Number.NaN,
      e2e = Number.NaN,
      e2eSeconds = Number.NaN;
    let fresh: { p50: number; p99: number; n: string } | undefined;
    const rate = Number(args["paced-rate"]);
    if (!alertsOnly) {
      // 1. Ceiling: the same messages, raw JetStream, a stream configured like COSTLINE_EVENTS.
      const events = await jsm.streams.info("COSTLINE_EVENTS");
      await jsm.streams.add({ ...events.config, name: "BENCH_CEILING", subjects: ["bench.ceiling.>"], duplicate_window: nanos(600_000) });
      const ceilingMsgs = buildMessages(N, "ceiling", (t) => `bench.ceiling.${t}`);
      const ceilingSeconds = await publishAll(js, ceilingMsgs);
      await jsm.streams.delete("BENCH_CEILING");
      ceiling = N / ceilingSeconds;
      process.stderr.write(`ceiling: ${N} events in ${ceilingSeconds.toFixed(2)} s = ${Math.round(ceiling)} events/s\n`);

      // 2. End to end: publish, then wait until the ledger holds every event.
      const e2eMsgs = buildMessages(N, "e2e", subjects.events);
      const t0 = performance.now();
      const e2ePublishSeconds = await publishAll(js, e2eMsgs);
      process.stderr.write(`  published in ${e2ePublishSeconds.toFixed(2)} s; ledger then held ${await ledgerEvents()}\n`);
      await waitFor("the ledger to hold every event", async () => ((await ledgerEvents()) >= N ? true : undefined), 600_000);
      e2eSeconds = (performance.now() - t0) / 1000;
      e2e = N / e2eSeconds;
      process.stderr.write(`end to end: ${N} events in ${e2eSeconds.toFixed(2)} s = ${Math.round(e2e)} events/s\n`);

      // 3. Freshness at a steady rate: each event's time is its publish time.
      const seconds = Number(args["paced-seconds"]);
      const r = seededRandom(7);
      const tickMs = 20;
      const perTick = Math.max(1, Math.round((rate * tickMs) / 1000));
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
      await waitFor("paced events in the ledger", async () => ((await ledgerEvents()) >= N + paced ? true : undefined), 120_000);
      [fresh] = await stack.sql<{ p50: number; p99: number; n: string }>(
        "SELECT quantileExact(0.5)(d) AS p50, quantileExact(0.99)(d) AS p99, count() AS n FROM (SELECT dateDiff('millisecond', time, ingested_at) AS d FROM costline.ledger FINAL WHERE source = 'bench/paced')",
      );
    }

    // 4. Alert latency: steady per-tenant traffic under a 5,000 events/s background, then a
    //    burst on one tenant at a time; from the burst's publish to its alert on the subject.
    //    It starts once the earlier phases' backlog has drained: it times alerting under the
    //    background, not the queue the throughput phase left.
    const drainedBeforeMs = await waitForDrain(jsm);
    process.stderr.write(`  backlog drained ${drainedBeforeMs} ms before the alert phase\n`);
    const alertLatency = await measureAlertLatency(
      js,
      nc,
      Number(args["background-rate"]),
      Number(args.spikes),
      Math.max(1, Number(args.runs)),
      { stack: stack.info.pid, nats: stack.info.nats_pid ?? null },
    );
    process.stderr.write(`alert latency: ${JSON.stringify(alertLatency)}\n`);

    let guardReaction: Awaited<ReturnType<typeof measureGuardReaction>> | null = null;
    if (!alertsOnly) {
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
      seconds: Number(e2eSeconds.toFixed(3)),
      events_per_s: Math.round(e2e),
      jetstream_ceiling_events_per_s: Math.round(ceiling),
      ratio_to_ceiling: Number((e2e / ceiling).toFixed(3)),
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
