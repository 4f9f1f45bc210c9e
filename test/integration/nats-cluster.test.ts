// A three-node JetStream cluster on loopback with costline's topology at
// COSTLINE_STREAM_REPLICAS=3: every stream and KV bucket has three copies,
// and killing the node that leads the events stream (SIGKILL) mid-stream
// loses nothing — publishing and consuming go on through the other two, and
// the node, started again, catches up.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { jetstream, jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { setTimeout as sleep } from "node:timers/promises";
import { loadConfig } from "../../pipeline/config/config.ts";
import { connectNats } from "../../pipeline/nats/connect.ts";
import { applyTopology, durableNames, streamSpecs } from "../../pipeline/nats/topology.ts";
import { kvBuckets, streamNames } from "../../pipeline/nats/subjects.ts";
import { notifyBuckets } from "../../pipeline/notify/kv-buckets.ts";
import { kvStreamName } from "../../pipeline/nats/replicas.ts";
import { startNatsCluster, type NatsCluster } from "../helpers/nats-cluster.ts";
import { tempHome, waitFor } from "../helpers/stack-process.ts";

const home = tempHome("costline-nats-cluster-");
let cluster: NatsCluster;
let nc: NatsConnection;
let producerNc: NatsConnection;
let jsm: JetStreamManager;

beforeAll(async () => {
  cluster = await startNatsCluster({ home });
  const config = loadConfig({ COSTLINE_HOME: home, ...cluster.env("pipeline") });
  nc = await connectNats({ ...config.nats, url: cluster.url }, "cluster-test");
  const op = cluster.credentials("operator");
  producerNc = await connectNats({ ...config.nats, url: cluster.url, user: op.user, password: op.password }, "cluster-test-producer");
  jsm = await jetstreamManager(nc);
  // Applied twice, as two costline processes starting together would.
  await Promise.all([applyTopology(nc, jsm, config), applyTopology(nc, jsm, config)]);
});

afterAll(async () => {
  await producerNc?.close().catch(() => undefined);
  await nc?.close().catch(() => undefined);
  await cluster?.stop();
});

/** The server leading a stream's raft group, as the stream reports it. */
async function leaderOf(stream: string): Promise<string> {
  return waitFor(`a leader of ${stream}`, async () => (await jsm.streams.info(stream)).cluster?.leader || undefined, 60_000);
}

describe("a three-node NATS cluster", () => {
  it("holds every stream and KV bucket in three copies (COSTLINE_STREAM_REPLICAS=3)", async () => {
    const config = loadConfig({ COSTLINE_HOME: home, ...cluster.env() });
    expect(config.streams.replicas).toBe(3);
    const names = [
      ...streamSpecs(config).map((s) => s.name),
      ...[...Object.values(kvBuckets), ...Object.values(notifyBuckets)].map(kvStreamName),
    ];
    for (const name of names) {
      const info = await jsm.streams.info(name);
      expect(info.config.num_replicas, name).toBe(3);
      expect(info.cluster?.replicas?.length, name).toBe(2); // the leader and two followers
    }
    // A consumer's replicas follow its stream's.
    const enrich = await jsm.consumers.info(streamNames.events, durableNames.enrich);
    expect(enrich.cluster?.replicas?.length).toBe(2);
  });

  it("keeps publishing and consuming through a SIGKILL of the stream's leader, and the node catches up on restart", async () => {
    const js = jetstream(producerNc);
    const consumerJs = jetstream(nc);
    const published = new Set<string>();
    const consumed = new Set<string>();
    let deliveries = 0;
    let seq = 0;
    let stopPublishing = false;

    // Publishes with a message id and retries the same id until JetStream
    // acknowledges it: a retry after a lost acknowledgement is deduplicated.
    const publisher = (async () => {
      while (!stopPublishing) {
        const id = `evt-${seq++}`;
        for (let attempt = 0; ; attempt++) {
          try {
            await js.publish(`costline.events.acme`, JSON.stringify({ id }), { msgID: id, timeout: 2000 });
            published.add(id);
            break;
          } catch (err) {
            if (attempt > 200) throw err;
            await sleep(100);
          }
        }
        if (seq % 50 === 0) await sleep(10);
      }
    })();

    const consumer = await consumerJs.consumers.get(streamNames.events, durableNames.enrich);
    let stopConsuming = false;
    const reader = (async () => {
      while (!stopConsuming) {
        try {
          const batch = await consumer.fetch({ max_messages: 200, expires: 1000 });
          for await (const m of batch) {
            deliveries++;
            consumed.add((m.json() as { id: string }).id);
            m.ack();
          }
        } catch {
          await sleep(100); // a leader election in progress: ask again
        }
      }
    })();

    await waitFor("the first 500 messages consumed", async () => (consumed.size >= 500 ? true : undefined), 60_000);
    const leader = await leaderOf(streamNames.events);
    const victim = cluster.nodes.findIndex((n) => n.name === leader);
    expect(victim).toBeGreaterThanOrEqual(0);
    await cluster.kill(victim);
    const atKill = published.size;

    // Another node takes the lead, and both publishing and consuming go on.
    const newLeader = await leaderOf(streamNames.events);
    expect(newLeader).not.toBe(leader);
    await waitFor("500 more published and consumed without the killed node", async () =>
      published.size >= atKill + 500 && consumed.size >= atKill + 500 ? true : undefined,
    );

    await cluster.restart(victim);
    await waitFor("1,000 more published after the restart", async () => (published.size >= atKill + 1500 ? true : undefined), 60_000);
    stopPublishing = true;
    await publisher;
    await waitFor(
      "every published message consumed",
      async () => ([...published].every((id) => consumed.has(id)) ? true : undefined),
      60_000,
    );
    stopConsuming = true;
    await reader;

    // Nothing lost; the stream holds each id once (retries deduplicated by message id).
    expect(consumed.size).toBe(published.size);
    expect(deliveries).toBeGreaterThanOrEqual(consumed.size);
    const info = await jsm.streams.info(streamNames.events);
    expect(info.state.messages).toBe(published.size);
    // The restarted node is a replica again and has caught up.
    await waitFor(
      "the restarted node current",
      async () => {
        const c = (await jsm.streams.info(streamNames.events)).cluster;
        const peer = [{ name: c?.leader, current: true }, ...(c?.replicas ?? [])].find((p) => p.name === cluster.nodes[victim]!.name);
        return peer?.current ? true : undefined;
      },
      60_000,
    );
  });
});
