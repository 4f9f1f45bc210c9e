// An unclean stop is normal: the pipeline process is killed with SIGKILL in
// the middle of a run and started again on the same $COSTLINE_HOME, and the
// ledger still holds every event exactly once.
import { readFileSync } from "node:fs";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { connect } from "@nats-io/transport-node";
import { connectStack } from "../helpers/stack-nats.ts";
import { createProducer } from "../../pipeline/producer/producer.ts";
import { startEmbeddedNats, type EmbeddedNats } from "../../pipeline/nats/embedded-server.ts";
import { isAlive } from "../../pipeline/stack/processes.ts";
import { Decimal } from "../../pipeline/pricing/decimal.ts";
import type { CostlineEventInput } from "../../schemas/index.ts";
import { amountFor, costEvent, expectedTotals, tenants } from "../helpers/events.ts";
import { startStack, tempHome, waitFor, type StackProcess } from "../helpers/stack-process.ts";

type Totals = { events: number; cost_usd: string; unpriced_events: number };

async function expectExact(stack: StackProcess, events: CostlineEventInput[]) {
  const expected = expectedTotals(events);
  for (const tenant of tenants) {
    const want = expected.get(tenant)!;
    const got = await waitFor(`totals for ${tenant}`, async () => {
      const t = await stack.api<Totals>(`/v1/totals?tenant=${encodeURIComponent(tenant)}`);
      return t.events >= want.events ? t : undefined;
    });
    expect({ tenant, events: got.events }).toEqual({ tenant, events: want.events });
    expect(new Decimal(got.cost_usd).equals(want.cost)).toBe(true);
  }
  const all = await stack.api<Totals>("/v1/totals");
  expect(all.events).toBe(events.length);
}

describe("crash recovery", () => {
  const cleanup: (() => Promise<unknown>)[] = [];
  afterAll(async () => {
    for (const fn of cleanup.reverse()) await fn().catch(() => undefined);
  });

  it("stays exact after the pipeline is SIGKILLed mid-run and restarted", async () => {
    const home = tempHome();
    const nats: EmbeddedNats = await startEmbeddedNats({
      bin: "nats-server",
      storeDir: path.join(home, "external-nats"),
      logFile: path.join(home, "external-nats.log"),
    });
    cleanup.push(() => nats.stop());
    // A short ack wait so messages the killed process held come back quickly.
    const env = { NATS_URL: nats.url, COSTLINE_ACK_WAIT_S: "5" };
    let stack = await startStack(home, env);
    cleanup.push(() => (stack.child.exitCode === null ? stack.kill() : Promise.resolve()));

    const nc = await connect({ servers: nats.url });
    cleanup.push(() => nc.close());
    const producer = await createProducer({ nc });
    const events = Array.from({ length: 20_000 }, (_, i) => costEvent(i, tenants[i % 4]!, amountFor(i), "test/crash"));
    // Publish in the background while the pipeline is killed and restarted; retries repeat chunks.
    const publishing = (async () => {
      for (let i = 0; i < events.length; i += 250) {
        await producer.publish(events.slice(i, i + 250));
        await new Promise((r) => setTimeout(r, 5));
      }
    })();

    await waitFor("some events in the ledger", async () => {
      const t = await stack.api<Totals>("/v1/totals");
      return t.events >= 3000 ? t : undefined;
    });
    await stack.kill();
    expect(isAlive(stack.info.pid)).toBe(false);

    stack = await startStack(home, env);
    await publishing;
    // Publish a slice again as a producer retry would, after the restart.
    await producer.publish(events.slice(2000, 3000));
    await expectExact(stack, events);
    expect(await stack.stop()).toBe(0);
  });

  it("recovers when `costline up` with its embedded nats-server is SIGKILLed", async () => {
    const home = tempHome();
    const env = { COSTLINE_ACK_WAIT_S: "5" }; // messages the killed process held come back after 5 s
    let stack = await startStack(home, env);
    cleanup.push(() => (stack.child.exitCode === null ? stack.kill() : Promise.resolve()));
    const first = Array.from({ length: 2000 }, (_, i) => costEvent(i, tenants[i % 4]!, amountFor(i), "test/crash-embedded"));
    const nc1 = await connectStack(stack);
    await (await createProducer({ nc: nc1 })).publish(first);
    await nc1.close();
    await waitFor("first events stored", async () => {
      const t = await stack.api<Totals>("/v1/totals");
      return t.events >= 1000 ? t : undefined;
    });
    await stack.kill(); // stack.json is left behind, stale
    const killed = JSON.parse(readFileSync(path.join(home, "stack.json"), "utf8")) as { instance_id: string };
    expect(killed.instance_id).toMatch(/\S/);

    stack = await startStack(home, env);
    // stack.json named the killed process's lease owner: its partitions were taken over at once, not after the lease TTL.
    const tookOver = await waitFor("the four partitioned stages' takeovers in the log", async () => {
      const lines = readFileSync(path.join(home, "logs", "costline.log"), "utf8")
        .split("\n")
        .filter((l) => l.includes("took over the partition leases"))
        .map((l) => JSON.parse(l) as { group: string; from: string[] });
      return new Set(lines.map((l) => l.group)).size === 4 ? lines : undefined;
    });
    expect(new Set(tookOver.map((l) => l.group))).toEqual(new Set(["ledger", "windower", "detector", "allocator"]));
    expect(tookOver.every((l) => l.from.includes(killed.instance_id))).toBe(true);
    const second = Array.from({ length: 2000 }, (_, i) => costEvent(5000 + i, tenants[i % 4]!, amountFor(5000 + i), "test/crash-embedded"));
    const nc2 = await connectStack(stack);
    cleanup.push(() => nc2.close());
    // The first batch again too: a producer that did not see its acks retries it.
    await (await createProducer({ nc: nc2 })).publish([...first, ...second]);
    await expectExact(stack, [...first, ...second]);
    expect(await stack.stop()).toBe(0);
  });
});
