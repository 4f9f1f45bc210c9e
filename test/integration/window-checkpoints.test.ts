// The windower's checkpoint store on a real nats-server: a checkpoint larger
// than a chunk comes back byte for byte, a torn one (a chunk overwritten
// behind the head's back) is refused rather than loaded, and of two writers
// that loaded the same head only the first can move it.
import { randomBytes } from "node:crypto";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Kvm, type KV } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import { startEmbeddedNats, type EmbeddedNats } from "../../pipeline/nats/embedded-server.ts";
import { createCheckpointStore } from "../../pipeline/windows/checkpoint-store.ts";
import { tempHome } from "../helpers/stack-process.ts";

const home = tempHome("costline-checkpoints-");
let server: EmbeddedNats;
let nc: NatsConnection;
let kv: KV;

beforeAll(async () => {
  server = await startEmbeddedNats({ bin: "nats-server", storeDir: path.join(home, "nats"), logFile: path.join(home, "nats.log") });
  nc = await connect({ servers: server.url });
  kv = await new Kvm(nc).create("state-test", { history: 1 });
});
afterAll(async () => {
  await nc?.close();
  await server?.stop();
});

describe("window checkpoints", () => {
  it("round-trips a checkpoint of several chunks, and the latest save wins", async () => {
    const store = createCheckpointStore(kv, 1000);
    expect(await store.load(0)).toBeNull();
    const first = randomBytes(3500);
    await store.save(0, first);
    const second = randomBytes(2100);
    await store.save(0, second);
    expect(Buffer.from((await createCheckpointStore(kv, 1000).load(0))!)).toEqual(second);
  });

  it("refuses a torn checkpoint instead of loading it", async () => {
    const store = createCheckpointStore(kv, 1000);
    await store.save(1, randomBytes(2500));
    const head = JSON.parse((await kv.get("p1.head"))!.string()) as { slot: number };
    await kv.put(`p1.s${head.slot}.1`, randomBytes(1000));
    await expect(createCheckpointStore(kv, 1000).load(1)).rejects.toThrow(/does not match its digest/);
  });

  it("lets only one of two writers that loaded the same head move it", async () => {
    const a = createCheckpointStore(kv, 1000);
    const b = createCheckpointStore(kv, 1000);
    await a.save(2, Buffer.from("base"));
    await a.load(2);
    await b.load(2);
    await b.save(2, Buffer.from("from b"));
    await expect(a.save(2, Buffer.from("from a"))).rejects.toThrow(/moved by another writer/);
    expect(Buffer.from((await createCheckpointStore(kv).load(2))!).toString()).toBe("from b");
  });
});
