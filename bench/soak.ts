// Memory soak: `npm run bench:soak -- --minutes 10 --rate 5000 [--batch K] [--out FILE]`.
//
// Starts `costline up` on a scratch $COSTLINE_HOME, samples the pipeline
// process's resident memory (and its nats-server's) every `--sample-s`
// seconds while idle, then while demo traffic is published at `--rate`
// events/s for `--minutes`. Reports RSS above the idle stack (peak and at the
// end), the slope of RSS over the run (MB/min, least squares; also over its
// second half, after warm-up), the pipeline's CPU per event, and the backlog
// of every consumer when publishing stopped and how long it took to drain.
import { mkdtempSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { setTimeout as sleep } from "node:timers/promises";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { demoEvent, seededRandom } from "../pipeline/demo/traffic.ts";
import { createSubjects } from "../pipeline/nats/subjects.ts";
import { batchMsgIdOf, msgIdOf } from "../pipeline/producer/producer.ts";
import type { CostlineEventInput } from "../schemas/index.ts";
import { connectStack } from "../test/helpers/stack-nats.ts";
import { startStack } from "../test/helpers/stack-process.ts";
import { backlog, undelivered, waitForDrain } from "./backlog.ts";
import { rssMb, slope, startCpuMeter } from "./process-stats.ts";

const { values: args } = parseArgs({
  options: {
    minutes: { type: "string", default: "10" },
    rate: { type: "string", default: "5000" },
    batch: { type: "string", default: "1" },
    "sample-s": { type: "string", default: "10" },
    "idle-s": { type: "string", default: "30" },
    out: { type: "string", default: "bench-soak.json" },
  },
});
const minutes = Number(args.minutes);
const rate = Number(args.rate);
const batch = Math.max(1, Number(args.batch));
const sampleMs = Number(args["sample-s"]) * 1000;
const subjects = createSubjects("costline");
const round = (x: number | null, digits = 1) => (x === null ? null : Number(x.toFixed(digits)));

const home = mkdtempSync(path.join(os.tmpdir(), "costline-soak-"));
const stack = await startStack(home, { COSTLINE_LOG_LEVEL: "warn" });
// A machine too busy to keep up can stall a client past nats-server's write deadline (slow consumer):
// the connection then reconnects, however often, instead of ending the run.
const nc = await connectStack(stack, "operator", { maxReconnectAttempts: -1, noAsyncTraces: true });
const js = jetstream(nc, { timeout: 30_000 });
const jsm = await jetstreamManager(nc);
const pids = { pipeline: stack.info.pid, nats: stack.info.nats_pid ?? null };
type Sample = { t_s: number; rss_mb: number | null; nats_rss_mb: number | null; published: number };
const samples: Sample[] = [];
const t0 = performance.now();
let published = 0;
const sample = () => {
  const s = {
    t_s: round((performance.now() - t0) / 1000)!,
    rss_mb: round(rssMb(pids.pipeline)),
    nats_rss_mb: round(rssMb(pids.nats)),
    published,
  };
  samples.push(s);
  process.stderr.write(`${JSON.stringify(s)}\n`);
};
try {
  // Idle: the stack as it stands before any traffic (the figure the run is read against).
  const idleSamples: number[] = [];
  for (let waited = 0; waited < Number(args["idle-s"]) * 1000; waited += 5000) {
    await sleep(5000);
    idleSamples.push(rssMb(pids.pipeline) ?? 0);
  }
  const idleRss = idleSamples.sort((a, b) => a - b)[Math.floor(idleSamples.length / 2)]!;
  const idleNats = rssMb(pids.nats);
  process.stderr.write(`idle RSS ${idleRss.toFixed(1)} MB (nats-server ${idleNats?.toFixed(1)} MB)\n`);

  const r = seededRandom(11);
  const runStart = performance.now();
  const meter = startCpuMeter(pids);
  const sampler = setInterval(sample, sampleMs);
  sample();
  // Publishing in 100 ms ticks at the rate, each tick's messages awaited together.
  const open = new Map<string, CostlineEventInput[]>();
  // A publish that times out (a machine too busy to keep up) is retried under the same
  // Nats-Msg-Id, so JetStream stores it once; retries are counted in the result.
  let retries = 0;
  const toMessage = async (events: CostlineEventInput[]) => {
    const first = events[0]!;
    const tenant = (first.data as { tenant: string }).tenant;
    const payload = JSON.stringify(batch === 1 ? first : events);
    const msgID = batch === 1 ? msgIdOf(first) : batchMsgIdOf(events);
    for (let attempt = 1; ; attempt++) {
      try {
        return await js.publish(subjects.events(tenant), payload, { msgID });
      } catch (err) {
        if (attempt >= 5) throw err;
        retries++;
      }
    }
  };
  let behind = 0;
  /** Set when publishing failed for good: the report then says when and why, with what was measured up to then. */
  let aborted: { at_s: number; error: string } | null = null;
  try {
    while (performance.now() - runStart < minutes * 60_000) {
      const tick = performance.now();
      const due = Math.round(((tick - runStart) / 1000) * rate) - published;
      const pubs: Promise<unknown>[] = [];
      const now = new Date();
      for (let i = 0; i < due; i++) {
        const e = demoEvent(r, now, "bench/soak");
        if (batch === 1) pubs.push(toMessage([e]));
        else {
          const tenant = (e.data as { tenant: string }).tenant;
          const list = open.get(tenant) ?? [];
          list.push(e);
          open.set(tenant, list);
          if (list.length >= batch) {
            pubs.push(toMessage(list));
            open.delete(tenant);
          }
        }
      }
      published += due;
      await Promise.all(pubs);
      const spent = performance.now() - tick;
      if (spent > 100) behind++;
      await sleep(Math.max(0, 100 - spent));
    }
    await Promise.all([...open.values()].map(toMessage));
  } catch (err) {
    aborted = { at_s: round((performance.now() - runStart) / 1000)!, error: `${(err as Error).name}: ${(err as Error).message}` };
    process.stderr.write(`publishing stopped: ${aborted.error}\n`);
  }
  open.clear();
  clearInterval(sampler);
  sample();
  const atEnd = await backlog(jsm).catch(() => null);
  const drainMs = aborted ? null : await waitForDrain(jsm, { timeoutMs: 900_000 });
  const cpu = meter.end(published);
  const runSamples = samples.filter((s) => s.rss_mb !== null).map((s) => ({ x: s.t_s / 60, y: s.rss_mb! }));
  const secondHalf = runSamples.slice(Math.floor(runSamples.length / 2));
  const peak = Math.max(...runSamples.map((p) => p.y));
  const last = runSamples[runSamples.length - 1]!.y;
  const seconds = (performance.now() - runStart) / 1000;
  const result = {
    minutes,
    rate_events_per_s: rate,
    batch_size: batch,
    published,
    achieved_events_per_s: Math.round(published / (seconds - (drainMs ?? 0) / 1000)),
    aborted,
    /** 100 ms ticks whose publishing took longer than the tick (the publisher fell behind the rate). */
    late_ticks: behind,
    publish_retries: retries,
    idle_rss_mb: round(idleRss),
    rss_above_idle_mb: { peak: round(peak - idleRss), end: round(last - idleRss) },
    rss_slope_mb_per_min: { whole_run: round(slope(runSamples), 2), second_half: round(slope(secondHalf), 2) },
    nats_server_rss_mb: { idle: round(idleNats), end: samples[samples.length - 1]?.nats_rss_mb ?? null },
    backlog_at_end: atEnd && { undelivered: undelivered(atEnd), by_consumer: atEnd },
    drain_ms: drainMs,
    cpu,
    samples,
    machine: { cpus: os.cpus().length, node: process.version, load_avg: os.loadavg().map((x) => Number(x.toFixed(2))) },
  };
  writeFileSync(args.out!, `${JSON.stringify(result, null, 2)}\n`);
  const { samples: _omitted, ...summary } = result;
  process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
} finally {
  await nc.close();
  await stack.stop();
}
