// Partition leases on a real nats-server: three instances (each on its own
// connection) share 8 partitions, rebalance as they join and leave, and at no
// moment do two of them hold one partition: whenever an instance starts a
// partition, no other instance's fence for it still reads as held. An
// instance cut off from NATS fences itself before its lease can lapse; one
// whose lease was taken stops at its next heartbeat.
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Kvm, type KV } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import { startEmbeddedNats, type EmbeddedNats } from "../../pipeline/nats/embedded-server.ts";
import { createLeaseManager, type Fence, type LeaseManager, type ReleaseReason } from "../../pipeline/leases/lease-manager.ts";
import { assignPartitions } from "../../pipeline/leases/assignment.ts";
import { createLogger } from "../../pipeline/observability/log.ts";
import { tempHome, waitFor } from "../helpers/stack-process.ts";

const TTL = 1500;
const PARTITIONS = 8;
const home = tempHome("costline-leases-");
let server: EmbeddedNats;
const conns: NatsConnection[] = [];
const log = createLogger("silent");

beforeAll(async () => {
  server = await startEmbeddedNats({ bin: "nats-server", storeDir: path.join(home, "nats"), logFile: path.join(home, "nats.log") });
  const nc = await connect({ servers: server.url });
  conns.push(nc);
  await new Kvm(nc).create("leases-test", { history: 1, ttl: TTL });
});
afterAll(async () => {
  for (const nc of conns) await nc.close().catch(() => undefined);
  await server?.stop();
});

/** Every fence ever handed out, by partition, to check that a start never overlaps a live holder. */
const fences = new Map<number, { who: string; fence: Fence }[]>();
const overlaps: string[] = [];
const events: { who: string; p: number; change: "acquired" | ReleaseReason }[] = [];

async function instance(
  who: string,
  opts: {
    bucket?: string;
    ttlMs?: number;
    takeOverFrom?: string[];
    /** The bucket as the manager sees it (a renewal made slow, say). */
    wrapKv?: (kv: KV) => KV;
    /** How long stopping partition p takes. */
    stopMs?: (p: number) => number;
  } = {},
): Promise<{ m: LeaseManager; nc: NatsConnection }> {
  const nc = await connect({ servers: server.url, reconnect: false });
  conns.push(nc);
  const opened: KV = await new Kvm(nc).open(opts.bucket ?? "leases-test");
  const kv = opts.wrapKv ? opts.wrapKv(opened) : opened;
  const m = createLeaseManager({
    kv,
    group: "ledger",
    instanceId: who,
    takeOverFrom: opts.takeOverFrom,
    partitions: PARTITIONS,
    ttlMs: opts.ttlMs ?? TTL,
    log,
    async onAcquired(p, fence) {
      for (const other of fences.get(p) ?? [])
        if (other.who !== who && other.fence.held()) overlaps.push(`${who} started ${p} while ${other.who} held it`);
      fences.set(p, [...(fences.get(p) ?? []), { who, fence }]);
      events.push({ who, p, change: "acquired" });
    },
    async onReleased(p, reason) {
      const ms = opts.stopMs?.(p) ?? 0;
      if (ms > 0) await new Promise((r) => setTimeout(r, ms));
      events.push({ who, p, change: reason });
    },
  });
  m.start();
  return { m, nc };
}

const owned = (ms: LeaseManager[]) => ms.map((m) => m.owned().sort((a, b) => a - b));
/** Waits until two instances hold four partitions each. */
const sharedEvenly = (what: string, ms: LeaseManager[], timeoutMs: number) =>
  waitFor(what, async () => (owned(ms).every((l) => l.length === PARTITIONS / ms.length) ? true : undefined), timeoutMs);

describe("partition leases", () => {
  it("assigns shares that differ by at most one, the same on every member", () => {
    const a = assignPartitions(8, ["c", "a", "b"]);
    expect([...a.values()].map((l) => l.length).sort()).toEqual([2, 3, 3]);
    expect(assignPartitions(8, ["b", "a", "c"])).toEqual(a);
    expect(assignPartitions(8, [])).toEqual(new Map());
  });

  it("rebalances as instances join and leave, never with two owners of a partition", async () => {
    const a = await instance("a");
    await waitFor("a to hold every partition", async () => (a.m.owned().length === PARTITIONS ? true : undefined), 20_000);

    const b = await instance("b");
    await sharedEvenly("a and b to share 4 + 4", [a.m, b.m], 20_000);
    const c = await instance("c");
    await waitFor(
      "three shares of 3, 3 and 2",
      async () => {
        const o = owned([a.m, b.m, c.m]);
        return o
          .map((l) => l.length)
          .sort()
          .join() === "2,3,3" && new Set(o.flat()).size === PARTITIONS
          ? true
          : undefined;
      },
      20_000,
    );

    // b leaves gracefully: its partitions are released and taken by a and c.
    await b.m.stop();
    expect(b.m.owned()).toEqual([]);
    await waitFor(
      "a and c to share 4 + 4",
      async () =>
        owned([a.m, c.m]).every((l) => l.length === 4) && new Set(owned([a.m, c.m]).flat()).size === PARTITIONS ? true : undefined,
      20_000,
    );
    expect(events.filter((e) => e.who === "b" && e.change === "stop").length).toBeGreaterThan(0);

    // c is cut off from NATS (a crash, as the others see it): it fences itself, a takes everything after the TTL.
    const cutAt = Date.now();
    const cHeld = c.m.owned();
    await c.nc.close();
    await waitFor("c to fence itself", async () => (c.m.owned().length === 0 ? true : undefined), 20_000);
    await waitFor("a to hold every partition again", async () => (a.m.owned().length === PARTITIONS ? true : undefined), 20_000);
    expect(Date.now() - cutAt).toBeGreaterThanOrEqual(TTL / 2);
    for (const p of cHeld) expect(events.some((e) => e.who === "c" && e.p === p && e.change === "lost")).toBe(true);

    expect(overlaps).toEqual([]);
    await c.m.stop();
    await a.m.stop();
  }, 120_000);

  it("stops at the next heartbeat when another writer took the lease", async () => {
    const d = await instance("d");
    await waitFor("d to hold every partition", async () => (d.m.owned().length === PARTITIONS ? true : undefined), 20_000);
    const kv = await new Kvm(conns[0]!).open("leases-test");
    // An operator (or a split brain) overwrites partition 3's lease.
    await kv.put("ledger.p.3", JSON.stringify({ owner: "intruder" }));
    await waitFor("d to give partition 3 up", async () => (!d.m.owned().includes(3) ? true : undefined), 20_000);
    expect(events.some((e) => e.who === "d" && e.p === 3 && e.change === "lost")).toBe(true);
    await d.m.stop();
  }, 60_000);

  it("moves shares when members join, and takes over at once the leases of an earlier, stopped life of the instance, and no one else's", async () => {
    // A TTL far longer than the test: whatever is taken within it was taken over, not left to lapse.
    const ttlMs = 600_000;
    await new Kvm(conns[0]!).create("leases-takeover", { history: 1, ttl: ttlMs });
    const bucket = "leases-takeover";
    const crashed = await instance("run-1", { bucket, ttlMs });
    await waitFor("run-1 to hold every partition", async () => (crashed.m.owned().length === PARTITIONS ? true : undefined), 20_000);
    // With this TTL the timed rounds are 200 s apart: run-1 hands half over because it watches the
    // bucket and sees a new member, not because its next round came.
    const other = await instance("other", { bucket, ttlMs });
    await sharedEvenly("run-1 and other to share 4 + 4", [crashed.m, other.m], 20_000);
    const crashedHeld = crashed.m.owned();
    const otherHeld = other.m.owned();
    // Gone without a word: its connection first, so its member key and leases stay for the TTL; then its
    // manager, so its fences no longer read as held (a dead process holds nothing).
    await crashed.nc.close();
    await crashed.m.stop();

    // Without takeOverFrom, a new instance waits: run-1 still counts as a member and its leases stand.
    const stranger = await instance("stranger", { bucket, ttlMs });
    stranger.m.nudge();
    await waitFor(
      "other to hand one partition to stranger (three members: 3, 3, 2)",
      async () => (stranger.m.owned().length > 0 ? true : undefined),
      20_000,
    );
    expect(stranger.m.owned().some((p) => crashedHeld.includes(p))).toBe(false);
    await stranger.m.stop();

    // run-2 names run-1 as its earlier life: run-1's partitions at once, other's stay other's until the share moves.
    const restarted = await instance("run-2", { bucket, ttlMs, takeOverFrom: ["run-1"] });
    await waitFor(
      "run-2 to hold run-1's partitions",
      async () => (crashedHeld.every((p) => restarted.m.owned().includes(p)) ? true : undefined),
      20_000,
    );
    await sharedEvenly("run-2 and other to share 4 + 4", [restarted.m, other.m], 20_000);
    expect(new Set(owned([restarted.m, other.m]).flat()).size).toBe(PARTITIONS);
    expect(events.some((e) => e.who === "other" && otherHeld.includes(e.p) && e.change === "lost")).toBe(false);
    expect(overlaps).toEqual([]);
    await restarted.m.stop();
    await other.m.stop();
  }, 60_000);

  it("gives a partition back at once while a renewal of it is in flight, not one TTL later", async () => {
    // A TTL far longer than the test: a lease that stood after its release would not lapse in time.
    const ttlMs = 600_000;
    const bucket = "leases-renewing";
    await new Kvm(conns[0]!).create(bucket, { history: 1, ttl: ttlMs });
    // The first holder's renewals are answered 700 ms after they are written, and stopping partition p takes 200 + 400 * (p / 2) ms:
    // each lease given back (a delete, seen by the watch) starts a round that renews the partitions
    // still stopping, so a later partition's delete comes while its renewal is in flight.
    const slowRenewals = (kv: KV): KV =>
      new Proxy(kv, {
        get(target, prop, receiver) {
          if (prop === "update")
            return async (...args: Parameters<KV["update"]>) => {
              // Written at once, answered late: the server's revision moves on before the manager learns it.
              const revision = await target.update(...args);
              await new Promise((r) => setTimeout(r, 700));
              return revision;
            };
          const v = Reflect.get(target, prop, receiver) as unknown;
          return typeof v === "function" ? (v as (...a: unknown[]) => unknown).bind(target) : v;
        },
      });
    const first = await instance("first", { bucket, ttlMs, wrapKv: slowRenewals, stopMs: (p) => 200 + 400 * Math.floor(p / 2) });
    await waitFor("first to hold every partition", async () => (first.m.owned().length === PARTITIONS ? true : undefined), 20_000);
    const second = await instance("second", { bucket, ttlMs });
    await sharedEvenly("first and second to share 4 + 4", [first.m, second.m], 10_000);
    expect(new Set(owned([first.m, second.m]).flat()).size).toBe(PARTITIONS);
    await second.m.stop();
    await first.m.stop();
  }, 60_000);
});
