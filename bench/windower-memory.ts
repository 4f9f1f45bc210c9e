// Windower memory under steady load: a `costline run windower` process (the
// partitioned, checkpointing windower) on its own nats-server, fed priced
// events at a steady rate for some minutes; its resident memory is sampled
// every few seconds. The result is the growth per minute after the warm-up
// (the first window + lateness + a window, while the open windows fill up),
// from a least-squares line through the samples — flat means memory follows
// the open windows, not traffic × time.
//
//   npm run bench:windower-memory -- [--rate 5000] [--minutes 10] [--out FILE]
import { spawn } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
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
import { cliPath, repoRoot, tempHome } from "../test/helpers/stack-process.ts";

const { values: args } = parseArgs({
  options: {
    rate: { type: "string", default: "5000" },
    minutes: { type: "string", default: "10" },
    out: { type: "string" },
  },
});
const rate = Number(args.rate);
const minutes = Number(args.minutes);
const EVENTS_PER_MESSAGE = 10;
const TENANTS = Array.from({ length: 40 }, (_, i) => `tenant-${i}`);
const settings = { COSTLINE_WINDOW_S: "60", COSTLINE_ALLOWED_LATENESS_S: "120" };

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) / 1024 : NaN;
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

const child = spawn(process.execPath, [cliPath, "run", "windower"], {
  cwd: repoRoot,
  env: cleanEnv({
    ...settings,
    NATS_URL: server.url,
    COSTLINE_HOME: path.join(home, "w"),
    COSTLINE_API_PORT: "0",
    COSTLINE_LOG_LEVEL: "warn",
  }),
  stdio: ["ignore", "inherit", "inherit"],
});
await sleep(5000);

const samples: { t_s: number; rss_mb: number }[] = [];
const started = Date.now();
let sent = 0;
let i = 0;
const sampler = setInterval(() => samples.push({ t_s: (Date.now() - started) / 1000, rss_mb: rssMb(child.pid!) }), 5000);
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
const seconds = (Date.now() - started) / 1000;

let lag = 0;
for (let p = 0; p < config.partitions.count; p++) {
  const info = await jsm.consumers.info(streamNames.priced, partitionDurable("windower", p));
  lag += info.num_pending + info.num_ack_pending;
}

// Growth after the warm-up: the open windows fill for window + lateness + one window.
const warmupS = 2 * config.windows.windowS + config.windows.latenessS;
const steady = samples.filter((s) => s.t_s >= warmupS);
const slope = (() => {
  if (steady.length < 3) return null;
  const n = steady.length;
  const mx = steady.reduce((a, s) => a + s.t_s, 0) / n;
  const my = steady.reduce((a, s) => a + s.rss_mb, 0) / n;
  const num = steady.reduce((a, s) => a + (s.t_s - mx) * (s.rss_mb - my), 0);
  const den = steady.reduce((a, s) => a + (s.t_s - mx) ** 2, 0);
  return (num / den) * 60;
})();

const result = {
  target_events_per_s: rate,
  sent_events: sent,
  events_per_s: Math.round(sent / seconds),
  seconds: Math.round(seconds),
  warmup_s: warmupS,
  rss_mb_start_of_steady: steady[0]?.rss_mb ?? null,
  rss_mb_end: samples.at(-1)?.rss_mb ?? null,
  rss_growth_mb_per_min: slope === null ? null : Math.round(slope * 100) / 100,
  windower_backlog_messages_at_end: lag,
  samples,
};
console.log(JSON.stringify({ ...result, samples: samples.length }, null, 2));
if (args.out) writeFileSync(args.out, JSON.stringify(result, null, 2));
child.kill("SIGTERM");
await nc.close();
await server.stop();
process.exit(0);
