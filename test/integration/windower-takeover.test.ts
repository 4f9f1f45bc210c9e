// The windower checkpoints instead of holding messages: a `costline run
// windower` process is SIGKILLed while priced events (a tenth of them sent
// twice, in other messages) stream in, a second process takes its partitions
// over when the leases lapse, resumes from the checkpoints, and every final
// tenant window — per tenant, summed — holds exactly the events sent, each
// once: nothing missing, nothing doubled. A window republished after the
// takeover carries the same totals as the first publication.
import { spawn, type ChildProcess } from "node:child_process";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Decimal } from "decimal.js";
import { jetstream, jetstreamManager, type JetStreamClient } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import { loadConfig } from "../../pipeline/config/config.ts";
import { startEmbeddedNats, type EmbeddedNats } from "../../pipeline/nats/embedded-server.ts";
import { applyTopology } from "../../pipeline/nats/topology.ts";
import { createSubjects, partitionBuckets, streamNames } from "../../pipeline/nats/subjects.ts";
import { partitionOf } from "../../pipeline/nats/partition.ts";
import type { PricedEvent, WindowAggregate } from "../../schemas/index.ts";
import { cleanEnv } from "../helpers/cli-process.ts";
import { cliPath, repoRoot, tempHome, waitFor } from "../helpers/stack-process.ts";
import { pricedCost } from "../helpers/events.ts";

const home = tempHome("costline-windower-takeover-");
const TENANTS = ["acme", "globex", "initech", "umbrella"];
const settings = {
  COSTLINE_PARTITIONS: "2",
  COSTLINE_WINDOW_S: "2",
  COSTLINE_ALLOWED_LATENESS_S: "20",
  COSTLINE_WINDOW_EMIT_MS: "100",
  COSTLINE_WINDOW_CHECKPOINT_MS: "200",
  COSTLINE_ACK_WAIT_S: "5",
  COSTLINE_LEASE_TTL_MS: "2000",
};
let server: EmbeddedNats;
let nc: NatsConnection;
let js: JetStreamClient;
const children: ChildProcess[] = [];

function windower(name: string): { child: ChildProcess; output: () => string } {
  let out = "";
  const child = spawn(process.execPath, [cliPath, "run", "windower"], {
    cwd: repoRoot,
    env: cleanEnv({
      ...settings,
      NATS_URL: server.url,
      COSTLINE_HOME: path.join(home, name),
      COSTLINE_API_PORT: "0",
      COSTLINE_INSTANCE_ID: name,
      COSTLINE_LOG_LEVEL: "info",
    }),
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (out += d.toString()));
  children.push(child);
  return { child, output: () => out };
}

function priced(i: number, tenant: string, time: number, cost: string): PricedEvent {
  return pricedCost({ id: `ev-${i}`, tenant, cost, source: "test/windower-takeover", time: new Date(time).toISOString() });
}

beforeAll(async () => {
  server = await startEmbeddedNats({ bin: "nats-server", storeDir: path.join(home, "nats"), logFile: path.join(home, "nats.log") });
  nc = await connect({ servers: server.url });
  js = jetstream(nc);
  await applyTopology(nc, await jetstreamManager(nc), loadConfig({ COSTLINE_HOME: home, ...settings }));
});
afterAll(async () => {
  for (const c of children) if (c.exitCode === null) c.kill("SIGKILL");
  await nc?.close();
  await server?.stop();
});

describe("windower takeover", () => {
  it("resumes a killed windower's partitions from their checkpoints with every window exact", async () => {
    const subjects = createSubjects("costline", 2);
    expect(new Set(TENANTS.map((t) => partitionOf(t, 2))).size).toBe(2); // both partitions carry traffic
    const leases = await new Kvm(nc).open(partitionBuckets.leases);
    const ownerOf = async (p: number) => {
      const e = await leases.get(`windower.p.${p}`);
      return e?.operation === "PUT" ? (JSON.parse(e.string()) as { owner: string }).owner : undefined;
    };

    const first = windower("w1");
    await waitFor(
      "w1 to own both partitions",
      async () => ((await ownerOf(0)) === "w1" && (await ownerOf(1)) === "w1" ? true : undefined),
      90_000,
    );

    // A steady stream of priced messages; every tenth message re-sends an earlier one's event.
    const expected = new Map<string, { events: number; cost: Decimal }>();
    const sent: PricedEvent[] = [];
    let i = 0;
    let running = true;
    const publishing = (async () => {
      while (running) {
        const tenant = TENANTS[i % TENANTS.length]!;
        const e = priced(i, tenant, Date.now(), `0.${String((i % 97) + 1).padStart(3, "0")}123456789`);
        await js.publish(subjects.priced(tenant), JSON.stringify([e]), { msgID: `m-${i}` });
        sent.push(e);
        const x = expected.get(tenant) ?? { events: 0, cost: new Decimal(0) };
        expected.set(tenant, { events: x.events + 1, cost: x.cost.plus(e.cost_usd!) });
        if (i % 10 === 9) {
          const again = sent[i - 5]!;
          await js.publish(subjects.priced(again.tenant), JSON.stringify([again]), { msgID: `dup-${i}` });
        }
        i++;
        await sleep(4);
      }
    })();

    // Mid-window: checkpoints written, messages in flight.
    const state = await new Kvm(nc).open(partitionBuckets.windowState);
    await waitFor(
      "checkpoints of both partitions",
      async () => ((await state.get("p0.head")) && (await state.get("p1.head")) ? true : undefined),
      30_000,
    );
    await sleep(1500);
    first.child.kill("SIGKILL");
    const killedAt = Date.now();
    await sleep(1000); // traffic goes on with no windower
    const second = windower("w2");
    await waitFor(
      "w2 to take both partitions over",
      async () => ((await ownerOf(0)) === "w2" && (await ownerOf(1)) === "w2" ? true : undefined),
      90_000,
    );
    const takeoverMs = Date.now() - killedAt;
    await sleep(2000);
    running = false;
    await publishing;

    // Events far ahead in event time close every window the test sent into.
    const lastTime = Date.now();
    for (const [n, tenant] of TENANTS.entries())
      await js.publish(subjects.priced(tenant), JSON.stringify([priced(1_000_000 + n, tenant, lastTime + 45_000, "0")]), {
        msgID: `closer-${n}`,
      });

    const finals = new Map<string, WindowAggregate>();
    const copies: string[] = [];
    const readFinals = async () => {
      const consumer = await js.consumers.get(streamNames.windows);
      for (;;) {
        const batch = await consumer.fetch({ max_messages: 1000, expires: 1000 });
        let last = -1;
        for await (const m of batch) {
          last = m.info.pending;
          if (!m.subject.startsWith(`${subjects.prefix}.windows.tenant.`)) continue;
          for (const w of m.json<WindowAggregate[]>())
            if (w.final && Date.parse(w.window_start) < lastTime) {
              const k = `${w.tenant}|${w.window_start}`;
              const before = finals.get(k);
              if (before) copies.push(`${k}: ${before.events}/${before.cost_usd} then ${w.events}/${w.cost_usd}`);
              finals.set(k, w);
            }
        }
        if (last <= 0) return;
      }
    };
    const totals = () => {
      const t = new Map<string, { events: number; cost: Decimal }>();
      for (const w of finals.values()) {
        const x = t.get(w.tenant) ?? { events: 0, cost: new Decimal(0) };
        t.set(w.tenant, { events: x.events + w.events, cost: x.cost.plus(w.cost_usd) });
      }
      return t;
    };
    await waitFor(
      "final windows holding every event sent",
      async () => {
        finals.clear();
        copies.length = 0;
        await readFinals();
        const t = totals();
        return TENANTS.every((x) => t.get(x)?.events === expected.get(x)!.events) ? true : undefined;
      },
      90_000,
    ).catch((err) => {
      throw new Error(
        `${(err as Error).message}; windows ${JSON.stringify([...totals()])} expected ${JSON.stringify([...expected])}\n${second.output().slice(-3000)}`,
      );
    });
    const t = totals();
    for (const tenant of TENANTS) {
      expect(t.get(tenant)!.events).toBe(expected.get(tenant)!.events);
      expect(t.get(tenant)!.cost.toFixed(12)).toBe(expected.get(tenant)!.cost.toFixed(12));
    }
    // A final published twice (before the kill and after the takeover) said the same both times.
    for (const c of copies) {
      const [, a, b] = c.match(/: (\S+) then (\S+)$/)!;
      expect(a, c).toBe(b);
    }
    expect(second.output()).toMatch(/windower partition resumed.*"checkpoint":true|"checkpoint":true.*windower partition resumed/);
    expect(second.output()).toMatch(/partition lease acquired/);
    expect(takeoverMs).toBeGreaterThan(0);
    second.child.kill("SIGTERM");
  }, 240_000);
});
