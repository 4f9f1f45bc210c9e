// The windower's checkpoint store on a real nats-server: a checkpoint larger
// than a chunk comes back byte for byte, a torn one (a chunk overwritten
// behind the head's back) is refused rather than loaded, and of two writers
// that loaded the same head only the first can move it. Its key log writes
// only what is new, forgets final starts, survives a failed save and a
// takeover, and refuses a torn chunk too; so do its sections, of which a save
// rewrites only the starts given.
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

  const headOf = async (p: number) =>
    JSON.parse((await kv.get(`p${p}.head`))!.string()) as { log: { key: string; starts: number[]; bytes: number }[] };
  const logOf = async (p: number) => {
    const store = createCheckpointStore(kv, 1000);
    await store.load(p);
    return store.loadedLog(p);
  };
  const live = (...starts: number[]) => new Set(starts);

  it("keeps a key log that each save extends with only the keys given since the last", async () => {
    const store = createCheckpointStore(kv, 1000);
    await store.save(3, Buffer.from("s1"), { fresh: [[60, "a".repeat(32)]], live: live(60) });
    await store.save(3, Buffer.from("s2"), { fresh: [[60, "b".repeat(16)]], live: live(60) });
    await store.save(3, Buffer.from("s3"), { fresh: [], live: live(60) });
    expect(await logOf(3)).toEqual([
      [60, "a".repeat(32)],
      [60, "b".repeat(16)],
    ]);
    // Small chunks are merged: one chunk holds both saves' keys.
    expect((await headOf(3)).log).toHaveLength(1);
    // Past half a chunk a new chunk begins, and the full one is not written again.
    await store.save(3, Buffer.from("s4"), { fresh: [[60, "c".repeat(600)]], live: live(60) });
    const full = (await headOf(3)).log[0]!;
    await store.save(3, Buffer.from("s5"), { fresh: [[120, "d".repeat(16)]], live: live(60, 120) });
    const head = await headOf(3);
    expect(head.log).toHaveLength(2);
    expect(head.log[0]).toEqual(full);
    expect(head.log[1]!.starts).toEqual([120]);
    expect((await logOf(3)).map(([start, joined]) => [start, joined.length])).toEqual([
      [60, 32],
      [60, 16],
      [60, 600],
      [120, 16],
    ]);
  });

  it("drops a final start's keys from the log and reuses its chunk", async () => {
    const store = createCheckpointStore(kv, 1000);
    await store.save(4, Buffer.from("s1"), { fresh: [[60, "a".repeat(700)]], live: live(60) });
    await store.save(4, Buffer.from("s2"), { fresh: [[120, "b".repeat(700)]], live: live(60, 120) });
    const [first] = (await headOf(4)).log;
    await store.save(4, Buffer.from("s3"), { fresh: [], live: live(120) });
    expect(await logOf(4)).toEqual([[120, "b".repeat(700)]]);
    await store.save(4, Buffer.from("s4"), { fresh: [[180, "c".repeat(700)]], live: live(120, 180) });
    expect((await headOf(4)).log.map((c) => c.key)).toContain(first!.key);
    expect((await logOf(4)).map(([start]) => start)).toEqual([120, 180]);
  });

  it("keeps the keys of a save that failed for the next one", async () => {
    const a = createCheckpointStore(kv, 1000);
    const b = createCheckpointStore(kv, 1000);
    await a.save(5, Buffer.from("base"), { fresh: [[60, "a".repeat(16)]], live: live(60) });
    await b.load(5);
    await b.save(5, Buffer.from("from b"), { fresh: [], live: live(60) });
    await expect(a.save(5, Buffer.from("from a"), { fresh: [[60, "x".repeat(16)]], live: live(60) })).rejects.toThrow(
      /moved by another writer/,
    );
    // The owner by lease goes on from the head as it is now; the keys of the failed save are in its next.
    await a.save(5, Buffer.from("from a again"), { fresh: [[60, "y".repeat(16)]], live: live(60) });
    expect((await logOf(5)).map(([, joined]) => joined[0])).toEqual(["a", "x", "y"]);
  });

  it("rewrites a predecessor's key log under the new writer's names and deletes the old chunks", async () => {
    const a = createCheckpointStore(kv, 1000);
    await a.save(6, Buffer.from("a"), { fresh: [[60, "a".repeat(700)]], live: live(60) });
    await a.save(6, Buffer.from("a"), { fresh: [[60, "b".repeat(700)]], live: live(60) });
    const before = (await headOf(6)).log.map((c) => c.key);
    const b = createCheckpointStore(kv, 1000);
    await b.load(6);
    expect(b.loadedLog(6)).toHaveLength(2);
    await b.save(6, Buffer.from("b"), { fresh: [[60, "c".repeat(16)]], live: live(60) });
    const after = (await headOf(6)).log.map((c) => c.key);
    expect(after.some((k) => before.includes(k))).toBe(false);
    for (const key of before) expect((await kv.get(key))?.operation).toBe("DEL");
    expect((await logOf(6)).map(([, joined]) => joined[0])).toEqual(["a", "b", "c"]);
  });

  it("refuses a checkpoint whose key log chunk was overwritten", async () => {
    const store = createCheckpointStore(kv, 1000);
    await store.save(7, Buffer.from("s"), { fresh: [[60, "a".repeat(32)]], live: live(60) });
    const [chunk] = (await headOf(7)).log;
    await kv.put(chunk!.key, JSON.stringify([[60, "b".repeat(32)]]));
    await expect(createCheckpointStore(kv, 1000).load(7)).rejects.toThrow(/key log chunk .* does not match its digest/);
  });

  const sectionsOf = async (p: number) => {
    const store = createCheckpointStore(kv, 1000);
    await store.load(p);
    return store.loadedSections(p);
  };
  const sectionHead = async (p: number) =>
    JSON.parse((await kv.get(`p${p}.head`))!.string()) as { sections: { start: number; chunks: { key: string }[] }[] };

  it("rewrites only the sections given, keeps the others as written, and drops those of final starts", async () => {
    const store = createCheckpointStore(kv, 1000);
    const big = "w".repeat(2500); // three chunks
    await store.save(8, Buffer.from("s1"), {
      fresh: [],
      live: live(60, 120),
      sections: [
        [60, big],
        [120, "b1"],
      ],
    });
    const first = (await sectionHead(8)).sections.find((s) => s.start === 60)!;
    expect(first.chunks).toHaveLength(3);
    await store.save(8, Buffer.from("s2"), { fresh: [], live: live(60, 120), sections: [[120, "b2"]] });
    // The start not given is not written again: the head names the same chunks.
    expect((await sectionHead(8)).sections.find((s) => s.start === 60)).toEqual(first);
    expect(await sectionsOf(8)).toEqual([
      [60, big],
      [120, "b2"],
    ]);
    // A final start's section leaves the head, and its chunks are reused.
    await store.save(8, Buffer.from("s3"), { fresh: [], live: live(120, 180), sections: [[180, "c1"]] });
    expect(await sectionsOf(8)).toEqual([
      [120, "b2"],
      [180, "c1"],
    ]);
    await store.save(8, Buffer.from("s4"), { fresh: [], live: live(120, 180), sections: [[180, "c".repeat(1500)]] });
    const keys = (await sectionHead(8)).sections.flatMap((s) => s.chunks.map((c) => c.key));
    expect(keys.some((k) => first.chunks.some((c) => c.key === k))).toBe(true);
  });

  it("keeps the sections of a failed save, rewrites a predecessor's under its own names, and refuses a torn one", async () => {
    const a = createCheckpointStore(kv, 1000);
    const b = createCheckpointStore(kv, 1000);
    await a.save(9, Buffer.from("base"), {
      fresh: [],
      live: live(60, 120),
      sections: [
        [60, "a1"],
        [120, "x".repeat(1200)],
      ],
    });
    await b.load(9);
    expect(b.loadedSections(9)).toEqual([
      [60, "a1"],
      [120, "x".repeat(1200)],
    ]);
    const before = (await sectionHead(9)).sections.flatMap((s) => s.chunks.map((c) => c.key));
    await b.save(9, Buffer.from("from b"), { fresh: [], live: live(60, 120), sections: [[60, "b1"]] });
    // The taker-over wrote both starts under its own names and deleted the predecessor's chunks.
    const after = (await sectionHead(9)).sections.flatMap((s) => s.chunks.map((c) => c.key));
    expect(after.some((k) => before.includes(k))).toBe(false);
    for (const key of before) expect((await kv.get(key))?.operation).toBe("DEL");
    expect(await sectionsOf(9)).toEqual([
      [60, "b1"],
      [120, "x".repeat(1200)],
    ]);
    // The old writer's save fails; its sections wait for its next save, after the lease came back to it.
    await expect(a.save(9, Buffer.from("from a"), { fresh: [], live: live(60, 120), sections: [[120, "a2"]] })).rejects.toThrow(
      /moved by another writer/,
    );
    await a.save(9, Buffer.from("from a again"), { fresh: [], live: live(60, 120), sections: [[60, "a3"]] });
    expect(new Map(await sectionsOf(9))).toEqual(
      new Map([
        [60, "a3"],
        [120, "a2"],
      ]),
    );
    const [section] = (await sectionHead(9)).sections;
    await kv.put(section!.chunks[0]!.key, "torn");
    await expect(createCheckpointStore(kv, 1000).load(9)).rejects.toThrow(/section chunk .* does not match its digest/);
  });
});
