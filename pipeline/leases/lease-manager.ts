// Partition ownership through leases in a NATS KV bucket whose entries lapse
// after the lease TTL (the bucket's max age). Every instance of a stateful
// stage heartbeats a member key and, per owned partition, its lease key
// (`<group>.p.<n>`), always by compare-and-set on the revision it last wrote:
// - acquire: `create` succeeds only when no live lease exists;
// - renew: `update(key, value, revision)` fails once anyone else wrote it;
// - release: `delete(key, { previousSeq })`, after the stage stopped the partition.
// So at most one instance holds a partition at any time. The instance that
// holds a lease knows until when it is valid (its last successful renewal was
// *sent* at t, so the server keeps it until at least t + TTL); it treats the
// lease as lost a margin before that (the fence), and the stage stops writing
// and acknowledging for it. The target share is a pure function of the live
// members (`assignPartitions`), so instances that join or leave move only as
// many partitions as the new balance needs. An owner that gives a partition
// up for making no progress (`giveUp`, see partitioned-stage.ts) stops
// renewing it and, for a while, heartbeats an exclusion key
// (`<group>.x.<n>.<member>`) that every member's assignment reads, so another
// member takes the partition over. One loop does everything; the timer only
// signals it.
import type { KV } from "@nats-io/kv";
import { hostname } from "node:os";
import { randomBytes } from "node:crypto";
import { errorMessage } from "../errors.ts";
import { fromKvToken, kvToken } from "../nats/subjects.ts";
import type { Logger } from "../observability/log.ts";
import type { LeaseMetrics } from "./lease-metrics.ts";
import { assignPartitions } from "./assignment.ts";

/** What a partition's work checks before each write and each acknowledgement. */
export interface Fence {
  partition: number;
  /** True while this instance still holds the lease (with a safety margin before it could lapse). */
  held(): boolean;
}

/** Why a partition was given back; "stalled": by its owner, for making no progress (fenced like a lost one). */
export type ReleaseReason = "rebalance" | "lost" | "stop" | "stalled";

export interface LeaseManagerOptions {
  kv: KV;
  /** The stage whose partitions these are (key prefix, metric label). */
  group: string;
  instanceId: string;
  partitions: number;
  ttlMs: number;
  log: Logger;
  metrics?: LeaseMetrics;
  now?: () => number;
  /**
   * Earlier lives of this instance known to have stopped (the process that wrote them is dead, e.g.
   * `costline up` after a crash, which reads its predecessor from stack.json): their member key and
   * leases are deleted at start (compare-and-set), so the partitions are taken over at once instead
   * of after the lease TTL. A stable COSTLINE_INSTANCE_ID started again names itself here: leases
   * under its own id are from its earlier life. Empty or absent: nothing is read at start.
   */
  takeOverFrom?: readonly string[];
  /** Start working the partition; resolves once started. */
  onAcquired(partition: number, fence: Fence): Promise<void>;
  /** Stop working it; resolves once nothing more is written or acknowledged for it. */
  onReleased(partition: number, reason: ReleaseReason): Promise<void>;
}

interface Held {
  /** Set once the partition is being given back. */
  releasing?: Promise<void>;
  /** The partition's start: runs beside the heartbeats (a start may take a while: a repair, a checkpoint load). */
  started: Promise<boolean>;
  revision: number;
  /** When the last successful write of the lease was sent: the server keeps it until at least this + TTL. */
  renewedAt: number;
  lost: boolean;
  /** A renewal in flight: the release waits for it, so that its delete names the lease's last revision. */
  renewing?: Promise<void>;
}

const describe = (err: unknown) => `${(err as Error)?.name ?? "Error"}: ${errorMessage(err)}`;

export function defaultInstanceId(): string {
  return `${hostname()}-${process.pid}-${randomBytes(3).toString("hex")}`;
}

export function createLeaseManager(opts: LeaseManagerOptions) {
  const now = opts.now ?? Date.now;
  const { kv, group, ttlMs, log } = opts;
  const me = kvToken(opts.instanceId);
  const margin = Math.max(200, Math.floor(ttlMs / 4));
  const heartbeatMs = Math.max(100, Math.floor(ttlMs / 3));
  const listTimeoutMs = Math.max(2000, heartbeatMs);
  const held = new Map<number, Held>();
  const leaseKey = (p: number) => `${group}.p.${p}`;
  const memberKey = (id: string) => `${group}.m.${id}`;
  const exclusionKey = (p: number, id: string) => `${group}.x.${p}.${id}`;
  /** Partitions this instance gave up, and until when it stays out of their assignment. */
  const excluding = new Map<number, number>();
  const value = () => JSON.stringify({ owner: opts.instanceId, at: new Date(now()).toISOString() });
  let stopped = false;
  let wake: (() => void) | undefined;
  /** A round asked for while one ran: the loop runs it right after instead of sleeping. */
  let again = false;
  const roundNow = () => {
    if (wake) wake();
    else again = true;
  };
  let loop: Promise<void> | undefined;
  let watcher: { stop(): void } | undefined;

  const fenceOf = (partition: number): Fence => ({
    partition,
    held() {
      const h = held.get(partition);
      return !!h && !h.lost && now() < h.renewedAt + ttlMs - margin;
    },
  });

  /**
   * Deletes the lease at the revision this instance last wrote. A renewal in flight would make that
   * revision stale (the delete would fail and the lease stand until its TTL), so it is waited for;
   * no renewal starts once the partition is lost or has left `held`.
   */
  async function giveBack(p: number, h: Held): Promise<void> {
    await h.renewing;
    await kv.delete(leaseKey(p), { previousSeq: h.revision }).catch(() => undefined);
  }

  /**
   * Stops the partition's work and gives the lease back. Runs beside the rounds (never awaited by
   * one): stopping may take a while, and meanwhile the other leases — and this one, while the
   * stage flushes — must go on being renewed.
   */
  function release(p: number, reason: ReleaseReason): Promise<void> {
    const h = held.get(p);
    if (!h) return Promise.resolve();
    if (reason === "lost" || reason === "stalled") h.lost = true;
    h.releasing ??= (async () => {
      if (!(await h.started)) return; // a start that failed gave the lease back itself
      // Given up for making no progress: free at once for another member (this one is fenced already).
      if (reason === "stalled") await giveBack(p, h);
      // The stage stops first (a graceful release checkpoints and acknowledges while the lease still holds).
      await opts.onReleased(p, reason).catch((err) => log.error({ err, partition: p }, "stopping a partition failed"));
      if (held.get(p) === h) held.delete(p);
      if (!h.lost) await giveBack(p, h);
      const lost = h.lost;
      opts.metrics?.changes.inc({ group, change: reason === "stalled" ? "stalled" : lost ? "lost" : "released" });
      opts.metrics?.owned.set({ group }, held.size);
      (lost ? log.warn.bind(log) : log.info.bind(log))(
        { group, partition: p, reason: reason === "stalled" ? reason : lost ? "lost" : reason, instance: opts.instanceId },
        "partition lease released",
      );
    })();
    return h.releasing;
  }

  async function acquire(p: number): Promise<void> {
    const sentAt = now();
    let revision: number;
    try {
      revision = await kv.create(leaseKey(p), value());
    } catch {
      return; // someone holds it (or held it until a moment ago); the next round tries again
    }
    const h: Held = { started: Promise.resolve(false), revision, renewedAt: sentAt, lost: false };
    held.set(p, h);
    opts.metrics?.changes.inc({ group, change: "acquired" });
    opts.metrics?.owned.set({ group }, held.size);
    log.info({ group, partition: p, instance: opts.instanceId, revision }, "partition lease acquired");
    h.started = opts.onAcquired(p, fenceOf(p)).then(
      () => true,
      async (err) => {
        log.error({ err, partition: p }, "starting a partition failed; giving its lease back");
        if (held.get(p) === h) held.delete(p);
        opts.metrics?.owned.set({ group }, held.size);
        await giveBack(p, h);
        return false;
      },
    );
  }

  function renew(p: number, h: Held): Promise<void> {
    const sent: Promise<void> = renewOnce(p, h).finally(() => {
      if (h.renewing === sent) h.renewing = undefined;
    });
    h.renewing = sent;
    return sent;
  }

  async function renewOnce(p: number, h: Held): Promise<void> {
    const sentAt = now();
    try {
      h.revision = await kv.update(leaseKey(p), value(), h.revision);
      h.renewedAt = sentAt;
    } catch (err) {
      // A revision mismatch means another instance wrote it: lost now. Anything else (NATS
      // away) is retried until the lease could lapse.
      const taken = /wrong last sequence|key exists/i.test(errorMessage(err));
      if (taken || sentAt >= h.renewedAt + ttlMs - margin) {
        log.warn({ group, partition: p, error: describe(err) }, "partition lease could not be renewed");
        void release(p, "lost");
      }
    }
  }

  /**
   * The bucket's keys under `filter`, or an error after a heartbeat period. A listing is an ordered
   * consumer that ends when the last key arrives or, failing that, at the consumer's idle heartbeat
   * (30 s): a round must not wait that long while the leases it holds go unrenewed.
   */
  async function listKeys(filter: string): Promise<string[]> {
    const keys = await kv.keys(filter);
    const timer = setTimeout(() => keys.stop(new Error(`listing ${filter} took over ${listTimeoutMs} ms`)), listTimeoutMs);
    try {
      const out: string[] = [];
      for await (const k of keys) out.push(k);
      return out;
    } finally {
      clearTimeout(timer);
    }
  }

  async function liveMembers(): Promise<string[]> {
    const ids = (await listKeys(`${group}.m.*`)).map((k) => k.slice(`${group}.m.`.length));
    if (!ids.includes(me)) ids.push(me);
    return ids;
  }

  /** Heartbeats this instance's exclusions (they lapse with the bucket's TTL once not renewed), then reads everyone's. */
  async function exclusions(): Promise<Map<number, Set<string>>> {
    for (const [p, until] of [...excluding]) {
      if (now() >= until) excluding.delete(p);
      else await kv.put(exclusionKey(p, me), value());
    }
    const out = new Map<number, Set<string>>();
    for (const [p] of excluding) out.set(p, new Set([me]));
    for (const k of await listKeys(`${group}.x.>`)) {
      const parts = k.slice(`${group}.x.`.length).split(".");
      const n = Number(parts[0]);
      const id = parts[1];
      if (!Number.isInteger(n) || !id) continue;
      if (id === me && !excluding.has(n)) continue; // over, though its key has not lapsed yet
      let set = out.get(n);
      if (!set) out.set(n, (set = new Set()));
      set.add(id);
    }
    return out;
  }

  /** One round: heartbeat, renew, then move toward this instance's share. */
  async function round(): Promise<void> {
    // Renewals first and side by side: under load a round is slow, and a lease must not lapse behind the member heartbeat.
    await Promise.all([...held].filter(([, h]) => !h.lost).map(([p, h]) => renew(p, h)));
    await kv.put(memberKey(me), value());
    const members = await liveMembers();
    const mine = new Set(assignPartitions(opts.partitions, members, await exclusions()).get(me) ?? []);
    for (const [p, h] of [...held]) if (!mine.has(p) && !h.releasing) void release(p, "rebalance");
    for (const p of mine) if (!held.has(p)) await acquire(p);
    opts.metrics?.members.set({ group }, members.length);
  }

  /** Deletes the member key and leases of this instance's earlier, stopped lives (see takeOverFrom). */
  async function takeOver(): Promise<void> {
    const earlier = new Set(opts.takeOverFrom ?? []);
    if (earlier.size === 0) return;
    for (const id of earlier) if (kvToken(id) !== me) await kv.delete(memberKey(kvToken(id))).catch(() => undefined);
    const taken: number[] = [];
    for (let p = 0; p < opts.partitions; p++) {
      const e = await kv.get(leaseKey(p)).catch(() => null);
      if (!e || e.operation !== "PUT") continue;
      let owner: unknown;
      try {
        owner = (JSON.parse(e.string()) as { owner?: unknown }).owner;
      } catch {
        continue;
      }
      if (typeof owner !== "string" || !earlier.has(owner)) continue;
      // Only the entry read: if anyone wrote the lease since, this delete fails and the lease stands.
      if (
        await kv.delete(leaseKey(p), { previousSeq: e.revision }).then(
          () => true,
          () => false,
        )
      )
        taken.push(p);
    }
    if (taken.length)
      log.info(
        { group, partitions: taken, from: [...earlier], instance: opts.instanceId },
        "took over the partition leases of this instance's earlier, stopped run",
      );
  }

  /**
   * Wakes the loop when membership or a lease changes: a member that joins gets its share within a
   * round of each side instead of a heartbeat period (TTL / 3) of each, and a lease given back is
   * taken at once. Lapsed keys make no event; the timed rounds find those. Without the watch (it
   * could not start, or ended) the timed rounds do everything, only later.
   */
  async function watchChanges(): Promise<void> {
    const seen = new Set<string>();
    const w = await kv.watch({ key: `${group}.>`, include: "updates" });
    watcher = w;
    if (stopped) w.stop();
    for await (const e of w) {
      const kind = e.key.slice(group.length + 1, group.length + 3);
      if (e.operation !== "PUT") {
        seen.delete(e.key);
        if (kind === "m." || kind === "p.") roundNow(); // a member left, a lease was given back
      } else if ((kind === "m." || kind === "x.") && !seen.has(e.key)) {
        seen.add(e.key); // a member or an exclusion not seen before (heartbeats of known ones are not news)
        if (e.key !== memberKey(me)) roundNow();
      }
    }
  }

  async function run(): Promise<void> {
    await takeOver().catch((err) =>
      log.warn({ group, error: describe(err) }, "could not take over earlier leases; they lapse with their TTL"),
    );
    void watchChanges().catch((err) => log.debug({ group, error: describe(err) }, "lease watch ended; rounds go on by the timer"));
    while (!stopped) {
      try {
        await round();
      } catch (err) {
        log.warn({ group, error: describe(err) }, "lease round failed");
        // Without NATS the fences still lapse on time; check them here too.
        for (const [p, h] of [...held]) if (now() >= h.renewedAt + ttlMs - margin) void release(p, "lost");
      }
      if (stopped) break;
      if (again) {
        again = false;
        continue;
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => {
          wake = undefined;
          resolve();
        }, heartbeatMs);
        wake = () => {
          wake = undefined;
          clearTimeout(t);
          resolve();
        };
      });
    }
  }

  return {
    start(): void {
      loop ??= run();
    },
    /** Partitions held now. */
    owned: () => [...held.entries()].filter(([, h]) => !h.lost && !h.releasing).map(([p]) => p),
    /**
     * Gives a partition up for making no progress: fenced at once (nothing more is acknowledged
     * for it), no longer renewed, and this instance stays out of its assignment for `forMs`, so
     * another member takes it over (or, alone, this one starts it afresh afterwards).
     */
    giveUp(partition: number, forMs: number): Promise<void> {
      if (!held.has(partition)) return Promise.resolve();
      excluding.set(partition, now() + forMs);
      const done = release(partition, "stalled");
      roundNow();
      return done;
    },
    /** Runs a round now (tests, and right after start). */
    nudge: roundNow,
    /** Gives every partition back (stage stopped first) and leaves the member list. */
    async stop(): Promise<void> {
      stopped = true;
      watcher?.stop();
      wake?.();
      await loop;
      await Promise.all([...held.keys()].map((p) => release(p, "stop")));
      await kv.delete(memberKey(me)).catch(() => undefined);
    },
    instance: fromKvToken(me),
  };
}
export type LeaseManager = ReturnType<typeof createLeaseManager>;
