// A batch that takes longer than the consumer's ack wait is not redelivered:
// the runner sends working() for the messages it holds. A real nats-server
// with a consumer whose ack wait is 4 s, and a handler that holds its batch
// for three ack waits.
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AckPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { nanos, type NatsConnection } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import * as z from "zod";
import { startEmbeddedNats, type EmbeddedNats } from "../../pipeline/nats/embedded-server.ts";
import { createSubjects } from "../../pipeline/nats/subjects.ts";
import { createLogger } from "../../pipeline/observability/log.ts";
import { createMetrics } from "../../pipeline/observability/metrics.ts";
import { startStage } from "../../pipeline/runner/consumer-runner.ts";
import { schemaDecoder } from "../../pipeline/runner/decoder.ts";
import { tempHome } from "../helpers/stack-process.ts";

const home = tempHome("costline-runner-keepalive-");
let server: EmbeddedNats;
let nc: NatsConnection;
const ACK_WAIT_MS = 4000;

beforeAll(async () => {
  server = await startEmbeddedNats({ bin: "nats-server", storeDir: path.join(home, "nats"), logFile: path.join(home, "nats.log") });
  nc = await connect({ servers: server.url });
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({ name: "KEEPALIVE", subjects: ["keepalive.>"] });
  await jsm.consumers.add("KEEPALIVE", { durable_name: "slow", ack_policy: AckPolicy.Explicit, ack_wait: nanos(ACK_WAIT_MS) });
});
afterAll(async () => {
  await nc?.close();
  await server?.stop();
});

describe("consumer loop", () => {
  it("keeps a batch slower than the ack wait from being redelivered", async () => {
    const js = jetstream(nc);
    const jsm = await jetstreamManager(nc);
    const abort = new AbortController();
    const deliveries: number[] = [];
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const stage = startStage<{ i: number }>({
      stage: "slow",
      js,
      subjects: createSubjects("keepalive", 1),
      stream: "KEEPALIVE",
      durable: "slow",
      maxBatch: 10,
      flushMs: 5,
      maxDeliver: 5,
      decode: schemaDecoder(z.object({ i: z.number() }), "test message"),
      handle: async (batch) => {
        for (const d of batch) deliveries.push(d.value.i);
        await held;
        return batch.map(() => ({ kind: "done" as const }));
      },
      log: createLogger("silent"),
      metrics: createMetrics(),
      signal: abort.signal,
    });
    await js.publish("keepalive.m", JSON.stringify({ i: 1 }));
    const deadline = Date.now() + 60_000;
    while (deliveries.length === 0 && Date.now() < deadline) await sleep(50);
    expect(deliveries).toEqual([1]);
    // Three ack waits while the handler holds the batch: without working() JetStream would hand it out again.
    await sleep(3 * ACK_WAIT_MS);
    const during = await jsm.consumers.info("KEEPALIVE", "slow");
    expect(during.num_redelivered).toBe(0);
    expect(during.num_ack_pending).toBe(1);
    release();
    for (;;) {
      const info = await jsm.consumers.info("KEEPALIVE", "slow");
      if (info.num_ack_pending === 0) break;
      if (Date.now() > deadline + 60_000) throw new Error("the batch was never acknowledged");
      await sleep(50);
    }
    expect(deliveries).toEqual([1]);
    abort.abort();
    await stage.done;
  });
});
