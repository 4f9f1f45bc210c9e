// Windower memory under steady load: a `costline run windower` process (the
// partitioned, checkpointing windower) on its own nats-server, fed priced
// events at a steady rate for some minutes; its resident memory is sampled
// every few seconds. The result is the growth per minute after the warm-up
// (the first window + lateness + a window, while the open windows fill up),
// from a least-squares line through the samples — flat means memory follows
// the open windows, not traffic × time.
//
// Besides the RSS it samples the process's own heap (in use and committed) and
// external memory (its /metrics), and its anonymous resident memory, so a
// growth can be told apart: JS objects (heap in use), pages V8 keeps (heap
// committed), Buffers (external), or native allocations (anonymous, beyond
// the two).
//
//   npm run bench:windower-memory -- [--rate 5000] [--minutes 10] [--window-s 60] [--lateness-s 120] [--sample-s 1] [--checkpoint-ms MS]
//     [--child-node-options=--heapsnapshot-signal=SIGUSR2] [--out FILE]
import { spawn } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { createServer } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs } from "node:util";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { loadConfig } from "../pipeline/config/config.ts";
import { startEmbeddedNats } from "../pipeline/nats/embedded-server.ts";
import { createSubjects, streamNames } from "../pipeline/nats/subjects.ts";
import { applyTopology, partitionDurable } from "../pipeline/nats/topology.ts";
import type { PricedEvent } from "../schemas/index.ts";
import { cleanEnv } from "../test/helpers/cli-process.ts";
import { cpuSeconds } from "./process-stats.ts";
import { cliPath, repoRoot, tempHome } from "../test/helpers/stack-process.ts";

const { values: args } = parseArgs({
  options: {
    rate: { type: "string", default: "5000" },
    minutes: { type: "string", default: "10" },
    "window-s": { type: "string", default: "60" },
    "lateness-s": { type: "string", default: "120" },
    /** The windower's checkpoint interval (COSTLINE_WINDOW_CHECKPOINT_MS); its default when absent. */
    "checkpoint-ms": { type: "string" },
    /** Seconds between samples: the heap's sawtooth has a period of some 15 s, and 5 s samples alias it. */
    "sample-s": { type: "string", default: "1" },
    /** Node options for the windower process, e.g. --heapsnapshot-signal=SIGUSR2 to take heap snapshots. */
    "child-node-options": { type: "string", default: "" },
    out: { type: "string" },
  },
});
const rate = Number(args.rate);
const minutes = Number(args.minutes);
const EVENTS_PER_MESSAGE = 10;
const TENANTS = Array.from({ length: 40 }, (_, i) => `tenant-${i}`);
const settings = {
  COSTLINE_WINDOW_S: args["window-s"],
  COSTLINE_ALLOWED_LATENESS_S: args["lateness-s"],
  ...(args["checkpoint-ms"] ? { COSTLINE_WINDOW_CHECKPOINT_MS: args["checkpoint-ms"] } : {}),
};

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) / 1024 : NaN;
}

/** Anonymous resident memory (heap, malloc arenas, stacks; not mapped files such as the node binary). */
function anonMb(pid: number): number {
  const m = /^Anonymous:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, "utf8"));
  return m ? Number(m[1]) / 1024 : NaN;
}

/** A loopback port free right now, for the child's /metrics. */
async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, "127.0.0.1", resolve));
  const port = (srv.address() as { port: number }).port;
  await new Promise((resolve) => srv.close(resolve));
  return port;
}

/** The child's heap used and external memory in MB, from its Prometheus metrics (null when unreachable). */
async function heapMb(
  port: number,
): Promise<Record<"heap_used_mb" | "heap_total_mb" | "external_mb" | "old_space_mb" | "large_object_space_mb", number | null>> {
  const text = await fetch(`http://127.0.0.1:${port}/metrics`)
    .then((r) => r.text())
    .catch(() => "");
  const read = (name: string) => {
    const m = new RegExp(`^costline_${name.replace(/[{}]/g, "\\$&")} (\\S+)$`, "m").exec(text);
    return m ? Math.round((Number(m[1]) / 1024 / 1024) * 10) / 10 : null;
  };
  return {
    heap_used_mb: read("nodejs_heap_size_used_bytes"),
    heap_total_mb: read("nodejs_heap_size_total_bytes"),
    external_mb: read("nodejs_external_memory_bytes"),
    old_space_mb: read('nodejs_heap_space_size_total_bytes{space="old"}'),
    large_object_space_mb: read('nodejs_heap_space_size_total_bytes{space="large_object"}'),
  };
}

function priced(i: number, tenant: string, time: number): PricedEvent {
  return {
    event_id: `m-${i}`,
    source: "bench/windower-memory",
    type: "costline.llm.usage",
    kind: "llm",
    time: new Date(time).toISOString(),
    tenant,
    post_id: `post-${i % 5000}`,
    persona_id: `persona-${i % 7}`,
    user_id: `u-${i % 1000}`,
    feature: `f-${i % 5}`,
    operation: `op-${i % 4}`,
    provider: "openai",
    model: i % 3 ? "gpt-4o" : "gpt-4o-mini",
    model_requested: "gpt-4o",
    category: "",
    usage: { input_tokens: 1000, output_tokens: 200 },
    batch: false,
    cost_usd: "0.004500000000",
    revenue_usd: "0",
    priced: true,
    price_source: "genai-prices",
    price_version: "bench",
    components: [],
    attribution_method: "direct",
    enriched_at: new Date(time).toISOString(),
  };
}

const home = tempHome("costline-bench-windower-");
const server = await startEmbeddedNats({ bin: "nats-server", storeDir: path.join(home, "nats"), logFile: path.join(home, "nats.log") });
const nc = await connect({ servers: server.url });
const jsm = await jetstreamManager(nc);
const config = loadConfig({ COSTLINE_HOME: home, ...settings });
await applyTopology(nc, jsm, config);
const js = jetstream(nc);
const subjects = createSubjects(config.subjects.prefix, config.partitions.count);

const metricsPort = await freePort();
// Node options as arguments, not NODE_OPTIONS: some (--cpu-prof) are refused there.
const nodeArgs = args["child-node-options"].split(/\s+/).filter(Boolean);
const child = spawn(process.execPath, [...nodeArgs, cliPath, "run", "windower"], {
  cwd: repoRoot,
  env: cleanEnv({
    ...settings,
    NATS_URL: server.url,
    COSTLINE_HOME: path.join(home, "w"),
    COSTLINE_API_PORT: "0",
    COSTLINE_METRICS_PORT: String(metricsPort),
    COSTLINE_LOG_LEVEL: "warn",
  }),
  stdio: ["ignore", "inherit", "inherit"],
});
await sleep(5000);

type Sample = { t_s: number; rss_mb: number; anon_mb: number } & Awaited<ReturnType<typeof heapMb>>;
const samples: Sample[] = [];
const started = Date.now();
const cpuAtStart = cpuSeconds(child.pid);
let sent = 0;
let i = 0;
const sampler = setInterval(
  () => {
    const t_s = (Date.now() - started) / 1000;
    const rss_mb = rssMb(child.pid!);
    const anon_mb = anonMb(child.pid!);
    void heapMb(metricsPort).then((h) => samples.push({ t_s, rss_mb, anon_mb, ...h }));
  },
  Number(args["sample-s"]) * 1000,
);
const tickMs = 100;
const perTick = Math.max(1, Math.round((rate * tickMs) / 1000 / EVENTS_PER_MESSAGE));
while (Date.now() - started < minutes * 60_000) {
  const tickStart = Date.now();
  const sends: Promise<unknown>[] = [];
  for (let m = 0; m < perTick; m++) {
    const tenant = TENANTS[i % TENANTS.length]!;
    const batch = Array.from({ length: EVENTS_PER_MESSAGE }, () => priced(i++, tenant, Date.now()));
    sends.push(js.publish(subjects.priced(tenant), JSON.stringify(batch)));
  }
  await Promise.all(sends);
  sent += perTick * EVENTS_PER_MESSAGE;
  await sleep(Math.max(0, tickMs - (Date.now() - tickStart)));
}
clearInterval(sampler);
const cpuAtEnd = cpuSeconds(child.pid);
const seconds = (Date.now() - started) / 1000;

let lag = 0;
for (let p = 0; p < config.partitions.count; p++) {
  const info = await jsm.consumers.info(streamNames.priced, partitionDurable("windower", p));
  lag += info.num_pending + info.num_ack_pending;
}

// Growth after the warm-up: the open windows fill for window + lateness + one window.
const warmupS = 2 * config.windows.windowS + config.windows.latenessS;
const steady = samples.filter((s) => s.t_s >= warmupS).sort((a, b) => a.t_s - b.t_s);
const round2 = (x: number) => Math.round(x * 100) / 100;
/** A least-squares line through points (seconds, MB): its slope in MB per minute and the slope's standard error. */
function fit(pts: (readonly [number, number])[]): { slope: number; stderr: number } | null {
  if (pts.length < 3) return null;
  const n = pts.length;
  const mx = pts.reduce((a, p) => a + p[0], 0) / n;
  const my = pts.reduce((a, p) => a + p[1], 0) / n;
  const num = pts.reduce((a, p) => a + (p[0] - mx) * (p[1] - my), 0);
  const den = pts.reduce((a, p) => a + (p[0] - mx) ** 2, 0);
  const b = num / den;
  const residual = pts.reduce((a, p) => a + (p[1] - my - b * (p[0] - mx)) ** 2, 0);
  return { slope: round2(b * 60), stderr: round2(Math.sqrt(residual / (n - 2) / den) * 60) };
}
const pointsOf = (pick: (s: Sample) => number | null) =>
  steady.map((s) => [s.t_s, pick(s)] as const).filter((p): p is readonly [number, number] => p[1] !== null);
/** MB per minute of a least-squares line through the steady samples of one measure. */
const slopeOf = (pick: (s: Sample) => number | null) => fit(pointsOf(pick))?.slope ?? null;
/**
 * The heap's floor: its smallest sample in each minute, after the garbage collector ran. Heap in use
 * swings by a hundred MB between collections, so a leak shows first in the floor, not in the samples.
 */
function floorFit(): { slope: number; stderr: number } | null {
  const floors = new Map<number, readonly [number, number]>();
  for (const [t, mb] of pointsOf((s) => s.heap_used_mb)) {
    const minute = Math.floor(t / 60);
    const seen = floors.get(minute);
    if (!seen || mb < seen[1]) floors.set(minute, [t, mb]);
  }
  return fit([...floors.values()]);
}
const rss = fit(pointsOf((s) => s.rss_mb));
const slope = rss?.slope ?? null;
const floor = floorFit();
const steadyRss = steady.map((s) => s.rss_mb);

const result = {
  target_events_per_s: rate,
  sent_events: sent,
  events_per_s: Math.round(sent / seconds),
  // The windower process's CPU time (all threads) over the run, per event sent.
  windower_cpu_us_per_event: cpuAtStart === null || cpuAtEnd === null ? null : Math.round(((cpuAtEnd - cpuAtStart) * 1e6 * 10) / sent) / 10,
  seconds: Math.round(seconds),
  warmup_s: warmupS,
  rss_mb_start_of_steady: steady[0]?.rss_mb ?? null,
  rss_mb_end: samples.at(-1)?.rss_mb ?? null,
  rss_growth_mb_per_min: slope,
  rss_growth_stderr: rss?.stderr ?? null,
  rss_mb_steady_min: steadyRss.length ? Math.round(Math.min(...steadyRss)) : null,
  rss_mb_steady_max: steadyRss.length ? Math.round(Math.max(...steadyRss)) : null,
  heap_floor_growth_mb_per_min: floor?.slope ?? null,
  heap_floor_growth_stderr: floor?.stderr ?? null,
  heap_used_growth_mb_per_min: slopeOf((s) => s.heap_used_mb),
  heap_total_growth_mb_per_min: slopeOf((s) => s.heap_total_mb),
  anon_growth_mb_per_min: slopeOf((s) => s.anon_mb),
  external_growth_mb_per_min: slopeOf((s) => s.external_mb),
  heap_used_mb_end: samples.at(-1)?.heap_used_mb ?? null,
  external_mb_end: samples.at(-1)?.external_mb ?? null,
  windower_backlog_messages_at_end: lag,
  samples,
};
console.log(JSON.stringify({ ...result, samples: samples.length }, null, 2));
if (args.out) writeFileSync(args.out, JSON.stringify(result, null, 2));
child.kill("SIGTERM");
await nc.close();
await server.stop();
process.exit(0);
