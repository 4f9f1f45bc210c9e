// NATS on a real nats-server: connection options from configuration
// (user/password, token), topology applied idempotently, and the producer
// SDK and `costline publish` on top of it.
import { spawn, execFile, type ChildProcess } from "node:child_process";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/nats-core";
import { loadConfig } from "../../pipeline/config/config.ts";
import { connectNats } from "../../pipeline/nats/connect.ts";
import { freePort, startEmbeddedNats, type EmbeddedNats } from "../../pipeline/nats/embedded-server.ts";
import { applyTopology, streamSpecs } from "../../pipeline/nats/topology.ts";
import { kvBuckets, partitionBuckets, streamNames } from "../../pipeline/nats/subjects.ts";
import { createProducer, EventValidationError } from "../../pipeline/producer/producer.ts";
import { costEvent } from "../helpers/events.ts";
import { cliPath, repoRoot, tempHome, waitFor } from "../helpers/stack-process.ts";

const run = promisify(execFile);
const home = tempHome("costline-nats-");
let server: EmbeddedNats;
let nc: NatsConnection;
const config = loadConfig({ COSTLINE_HOME: home });

beforeAll(async () => {
  server = await startEmbeddedNats({ bin: "nats-server", storeDir: path.join(home, "nats"), logFile: path.join(home, "nats.log") });
  nc = await connectNats({ ...config.nats, url: server.url }, "test");
});
afterAll(async () => {
  await nc?.close();
  await server?.stop();
});

describe("topology", () => {
  it("is created once and re-applied without error, fixing drift", async () => {
    const jsm = await jetstreamManager(nc);
    await applyTopology(nc, jsm, config);
    await jsm.streams.update(streamNames.events, { ...(await jsm.streams.info(streamNames.events)).config, max_msgs_per_subject: 5 });
    await applyTopology(nc, jsm, config);
    const names: string[] = [];
    for await (const s of jsm.streams.list()) if (!s.config.name.startsWith("KV_")) names.push(s.config.name);
    expect(names.sort()).toEqual(
      streamSpecs(config)
        .map((s) => s.name)
        .sort(),
    );
    const events = await jsm.streams.info(streamNames.events);
    expect(events.config.subjects).toEqual(["costline.events.>"]);
    expect(events.config.duplicate_window).toBe(600 * 1e9);
    expect(events.config.max_msgs_per_subject).toBe(-1); // the drift was put back
    expect((await jsm.consumers.info(streamNames.events, "enrich")).config.ack_policy).toBe("explicit");
    expect((await jsm.consumers.info(streamNames.events, "enrich")).config.max_ack_pending).toBe(100_000);
    // The partitioned stages read one consumer per partition, filtered to its subjects.
    for (let p = 0; p < config.partitions.count; p++) {
      const w = await jsm.consumers.info(streamNames.priced, `windower-p${p}`);
      expect(w.config).toMatchObject({ filter_subject: `costline.priced.*.${p}`, max_ack_pending: config.windows.maxPending });
      expect((await jsm.consumers.info(streamNames.priced, `ledger-p${p}`)).config.filter_subject).toBe(`costline.priced.*.${p}`);
    }
    expect(config.windows.maxPending).toBe(500_000);
    const kvm = new Kvm(nc);
    for (const b of Object.values(kvBuckets)) expect((await (await kvm.open(b)).status()).bucket).toBe(b);
    // Leases lapse one TTL after their last heartbeat.
    expect((await (await kvm.open(partitionBuckets.leases)).status()).ttl).toBe(config.partitions.leaseTtlMs);
  });

  it("keeps the DLQ within its configured retention, dropping the oldest records first", async () => {
    const jsm = await jetstreamManager(nc);
    const small = loadConfig({ COSTLINE_HOME: home, COSTLINE_DLQ_MAX_MESSAGES: "3", COSTLINE_DLQ_MAX_AGE_H: "48" });
    await applyTopology(nc, jsm, small);
    const dlq = await jsm.streams.info(streamNames.dlq);
    expect(dlq.config).toMatchObject({ max_msgs: 3, max_bytes: 10_737_418_240, max_age: 48 * 3_600 * 1e9, discard: "old" });
    const js = jetstream(nc);
    for (let i = 0; i < 5; i++) await js.publish("costline.dlq.enrich", JSON.stringify({ n: i }));
    const kept = await jsm.streams.info(streamNames.dlq);
    expect(kept.state).toMatchObject({ messages: 3, first_seq: 3, last_seq: 5 });
    await applyTopology(nc, jsm, config); // back to the defaults for the other tests
  });
});

describe("producer SDK", () => {
  it("resolves when JetStream stored the event, and a retry is a duplicate", async () => {
    const producer = await createProducer({ nc });
    const [first] = await producer.publish(costEvent(1, "acme", "1.5"));
    const [again] = await producer.publish(costEvent(1, "acme", "1.5"));
    expect(first!.stream).toBe(streamNames.events);
    expect(first!.duplicate).toBe(false);
    expect(again!.duplicate).toBe(true);
    expect(again!.seq).toBe(first!.seq);
  });

  it("stores two tenants' events with the same source and id: JetStream's duplicate window is per tenant", async () => {
    const producer = await createProducer({ nc });
    const [mine] = await producer.publish(costEvent(40, "tenant-a", "1"));
    const [theirs] = await producer.publish(costEvent(40, "tenant-b", "1"));
    expect(mine!.duplicate).toBe(false);
    expect(theirs!.duplicate).toBe(false);
    expect(theirs!.seq).not.toBe(mine!.seq);
    // The same holds for batch messages, whose id names their first and last events.
    const batchOf = (tenant: string) => [costEvent(41, tenant, "1"), costEvent(42, tenant, "2")];
    const a = await producer.publishBatch(batchOf("tenant-a"));
    const b = await producer.publishBatch(batchOf("tenant-b"));
    expect([a.duplicate, b.duplicate]).toEqual([false, false]);
    expect((await producer.publishBatch(batchOf("tenant-b"))).duplicate).toBe(true);
  });

  it("refuses an invalid event before publishing anything", async () => {
    const producer = await createProducer({ nc });
    const jsm = await jetstreamManager(nc);
    const before = (await jsm.streams.info(streamNames.events)).state.messages;
    const bad = { ...costEvent(2, "acme", "1"), data: { tenant: "acme", amount: "1.5.5", currency: "USD", category: "x" } };
    await expect(producer.publish([costEvent(3, "acme", "1"), bad as never])).rejects.toThrow(EventValidationError);
    await expect(producer.publish(bad as never)).rejects.toThrow(/event 0: data.amount/);
    expect((await jsm.streams.info(streamNames.events)).state.messages).toBe(before);
  });
});

describe("`costline publish`", () => {
  it("publishes the good lines of an NDJSON file and reports bad ones by line number", async () => {
    const file = path.join(home, "events.ndjson");
    const lines = [
      JSON.stringify(costEvent(100, "globex", "2")),
      "{oops",
      "",
      JSON.stringify({ ...costEvent(101, "globex", "2"), type: "costline.nope" }),
      JSON.stringify(costEvent(102, "globex", "3")),
    ];
    writeFileSync(file, `${lines.join("\n")}\n`);
    const jsm = await jetstreamManager(nc);
    const before = (await jsm.streams.info(streamNames.events)).state.messages;
    const result = await run(process.execPath, [cliPath, "publish", "--file", file], {
      cwd: repoRoot,
      env: { ...process.env, COSTLINE_HOME: home, NATS_URL: server.url },
    }).catch((err: { code: number; stdout: string; stderr: string }) => err);
    expect((result as { code?: number }).code).toBe(2); // some lines were rejected
    expect(JSON.parse(result.stdout)).toEqual({ published: 2, rejected: 2 });
    expect(result.stderr).toMatch(/line 2: not JSON/);
    expect(result.stderr).toMatch(/line 4: unknown_type/);
    expect((await jsm.streams.info(streamNames.events)).state.messages).toBe(before + 2);
  });
});

describe("connection options", () => {
  let secured: ChildProcess;
  let port: number;
  beforeAll(async () => {
    port = await freePort();
    secured = spawn("nats-server", ["-a", "127.0.0.1", "-p", String(port), "--user", "costline", "--pass", "s3cret"], { stdio: "ignore" });
    await waitFor("secured nats-server", async () => {
      const c = await connectNats({ ...config.nats, url: `nats://127.0.0.1:${port}`, user: "costline", password: "s3cret" }, "probe");
      await c.close();
      return true;
    });
  });
  afterAll(() => {
    secured?.kill();
  });

  it("authenticates with user and password from configuration", async () => {
    const cfg = loadConfig({ NATS_URL: `nats://127.0.0.1:${port}`, NATS_USER: "costline", NATS_PASSWORD: "s3cret" });
    const c = await connectNats({ ...cfg.nats, url: cfg.nats.url! }, "test");
    expect(c.isClosed()).toBe(false);
    await c.close();
  });

  it("fails clearly with the wrong password", async () => {
    const cfg = loadConfig({ NATS_URL: `nats://127.0.0.1:${port}`, NATS_USER: "costline", NATS_PASSWORD: "wrong" });
    await expect(connectNats({ ...cfg.nats, url: cfg.nats.url! }, "test")).rejects.toThrow(/auth/i);
  });

  it("names a missing creds file", async () => {
    const cfg = loadConfig({ NATS_URL: `nats://127.0.0.1:${port}`, NATS_CREDS: path.join(home, "missing.creds") });
    await expect(connectNats({ ...cfg.nats, url: cfg.nats.url! }, "test")).rejects.toThrow(/cannot read NATS_CREDS/);
  });
});
