// The partition watchdog on a real nats-server: instance A holds a partition
// but its work never acknowledges anything (a consumer that stopped pulling)
// while messages wait; after the stall time A gives the lease up — a warning
// in its log, costline_lease_changes_total{change="stalled"} — and instance
// B, whose work acknowledges, takes the partition over and drains it.
import path from "node:path";
import { Writable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pino } from "pino";
import { Registry } from "prom-client";
import { AckPolicy, jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import { startEmbeddedNats, type EmbeddedNats } from "../../pipeline/nats/embedded-server.ts";
import { leaseMetrics } from "../../pipeline/leases/lease-metrics.ts";
import { startPartitionedStage, type PartitionWork } from "../../pipeline/partitions/partitioned-stage.ts";
import type { Logger } from "../../pipeline/observability/log.ts";
import { tempHome, waitFor } from "../helpers/stack-process.ts";

const TTL = 1500;
const STALL_MS = 2000;
const home = tempHome("costline-watchdog-");
let server: EmbeddedNats;
let nc: NatsConnection;
let js: JetStreamClient;
let jsm: JetStreamManager;

beforeAll(async () => {
  server = await startEmbeddedNats({ bin: "nats-server", storeDir: path.join(home, "nats"), logFile: path.join(home, "nats.log") });
  nc = await connect({ servers: server.url });
  js = jetstream(nc);
  jsm = await jetstreamManager(nc);
  await new Kvm(nc).create("watchdog-leases", { history: 1, ttl: TTL });
  await jsm.streams.add({ name: "WATCHDOG", subjects: ["wd.>"] });
  for (const p of [0, 1])
    await jsm.consumers.add("WATCHDOG", { durable_name: `wd-p${p}`, ack_policy: AckPolicy.Explicit, filter_subject: `wd.${p}` });
});
afterAll(async () => {
  await nc?.close();
  await server?.stop();
});

/** A logger whose lines are kept, to read what the instance said. */
function recordingLog(lines: Record<string, unknown>[]): Logger {
  return pino(
    { level: "info" },
    new Writable({
      write(chunk: Buffer, _enc, cb) {
        lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
        cb();
      },
    }),
  ) as unknown as Logger;
}

/** Work that acknowledges every message of the partition, or (stuck) never pulls one. */
async function work(p: number, stuck: boolean, signal: AbortSignal): Promise<PartitionWork> {
  if (stuck)
    return {
      loops: [{ name: `stuck-${p}`, done: new Promise<void>((r) => signal.addEventListener("abort", () => r())), lastFlushAt: () => 0 }],
    };
  const messages = await (await js.consumers.get("WATCHDOG", `wd-p${p}`)).consume();
  signal.addEventListener("abort", () => void messages.close());
  const done = (async () => {
    for await (const m of messages) m.ack();
  })();
  return { loops: [{ name: `acks-${p}`, done, lastFlushAt: () => Date.now() }] };
}

async function instance(id: string, stuck: boolean, lines: Record<string, unknown>[], registry: Registry) {
  const abort = new AbortController();
  const kv = await new Kvm(await connect({ servers: server.url })).open("watchdog-leases");
  return {
    abort,
    stage: startPartitionedStage({
      group: "wd",
      kv,
      instanceId: id,
      partitions: 2,
      ttlMs: TTL,
      log: recordingLog(lines),
      metrics: leaseMetrics(registry),
      signal: abort.signal,
      stallMs: STALL_MS,
      async progress(p) {
        const info = await jsm.consumers.info("WATCHDOG", `wd-p${p}`);
        return { waiting: info.num_pending + info.num_ack_pending, acked: info.ack_floor.stream_seq };
      },
      startPartition: (p, _fence, signal) => work(p, stuck, signal),
    }),
  };
}

describe("partition watchdog", () => {
  it("gives up a partition that makes no progress with messages waiting, and another instance drains it", async () => {
    for (const p of [0, 1]) for (let i = 0; i < 10; i++) await js.publish(`wd.${p}`, `m-${i}`);
    const aLines: Record<string, unknown>[] = [];
    const aMetrics = new Registry();
    const a = await instance("a", true, aLines, aMetrics);
    const b = await instance("b", false, [], new Registry());
    const drained = async (p: number) => {
      const info = await jsm.consumers.info("WATCHDOG", `wd-p${p}`);
      return info.num_pending === 0 && info.num_ack_pending === 0 ? true : undefined;
    };
    await waitFor(
      "both partitions drained, the stuck one by the other instance",
      async () => ((await drained(0)) && (await drained(1)) ? true : undefined),
      60_000,
    ).catch((err) => {
      throw new Error(`${(err as Error).message}; A said: ${aLines.map((l) => `${String(l.msg)} ${JSON.stringify(l)}`).join("\n")}`);
    });
    const gaveUp = aLines.filter((l) => l.msg === "partition made no progress with messages waiting; giving its lease up");
    expect(gaveUp.length).toBeGreaterThanOrEqual(1);
    expect(gaveUp[0]).toMatchObject({ group: "wd", instance: "a" });
    expect(aLines.some((l) => l.msg === "partition lease released" && l.reason === "stalled")).toBe(true);
    const stalled = (await aMetrics.getSingleMetric("costline_lease_changes_total")!.get()).values.find(
      (v) => v.labels.change === "stalled",
    );
    expect(stalled?.value).toBeGreaterThanOrEqual(1);
    a.abort.abort();
    b.abort.abort();
    await Promise.all([a.stage.done, b.stage.done]);
  }, 120_000);
});
