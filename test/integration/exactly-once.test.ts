// The spine, end to end on real parts: `costline up` as a child process with
// its embedded nats-server and embedded ClickHouse. Every unique event lands
// in the ledger exactly once, to the micro-dollar, whatever duplicates and
// malformed messages arrive, and the stack keeps running.
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectStack } from "../helpers/stack-nats.ts";
import { jetstream, jetstreamManager, type JetStreamClient } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { createProducer, type Producer } from "../../pipeline/producer/producer.ts";
import { createSubjects } from "../../pipeline/nats/subjects.ts";
import { Decimal } from "../../pipeline/pricing/decimal.ts";
import { dlqRecordSchema, type CostlineEventInput } from "../../schemas/index.ts";
import { amountFor, costEvent, expectedTotals, tenants } from "../helpers/events.ts";
import { cliPath, getJson, repoRoot, startStack, tempHome, waitFor, type StackProcess } from "../helpers/stack-process.ts";

const run = promisify(execFile);
const subjects = createSubjects("costline");
type Totals = { events: number; cost_usd: string; unpriced_events: number };

describe("exactly once through `costline up` (embedded NATS + embedded ClickHouse)", () => {
  let home: string;
  let stack: StackProcess;
  let nc: NatsConnection;
  let js: JetStreamClient;
  let producer: Producer;

  beforeAll(async () => {
    home = tempHome();
    stack = await startStack(home);
    nc = await connectStack(stack);
    js = jetstream(nc);
    producer = await createProducer({ nc });
  });

  afterAll(async () => {
    await nc?.close();
    if (stack && stack.child.exitCode === null) await stack.kill();
  });

  it("counts 20,000 events once each despite duplicates and malformed input", async () => {
    const events: CostlineEventInput[] = Array.from({ length: 20_000 }, (_, i) => costEvent(i, tenants[i % 4]!, amountFor(i)));
    for (let i = 0; i < events.length; i += 1000) await producer.publish(events.slice(i, i + 1000));

    // 10% again: half through the SDK (same Nats-Msg-Id, dropped by JetStream),
    // half inside batch messages with new message ids, which only the ledger can stop.
    const again = events.filter((_, i) => i % 10 === 3);
    await producer.publish(again.slice(0, 1000));
    const rest = again.slice(1000);
    // A batch message carries one tenant's events, on that tenant's subject (enrich refuses others as tenant_mismatch).
    for (const tenant of tenants) {
      const own = rest.filter((e) => (e.data as { tenant: string }).tenant === tenant);
      for (let i = 0; i < own.length; i += 100) await js.publish(subjects.events(tenant), JSON.stringify(own.slice(i, i + 100)));
    }

    // Malformed messages straight onto the events subject.
    const bad: [string, string | Uint8Array][] = [
      ["not_json", "{not json"],
      ["validation", JSON.stringify({ specversion: "1.0", id: "b1", source: "s", type: "costline.cost", data: { tenant: "acme" } })],
      ["unknown_type", JSON.stringify({ specversion: "1.0", id: "b2", source: "s", type: "costline.bogus", data: { tenant: "acme" } })],
      [
        "invalid_usage",
        JSON.stringify({
          specversion: "1.0",
          id: "b3",
          source: "s",
          type: "costline.llm.usage",
          data: { tenant: "acme", provider: "openai", model: "gpt-4o", usage: { input_tokens: -5 } },
        }),
      ],
      ["oversized", JSON.stringify(Array.from({ length: 1001 }, (_, i) => costEvent(90_000 + i, "acme", "1")))],
      ["validation", "[]"],
      ["validation", "null"],
    ];
    for (const [, payload] of bad) await js.publish(subjects.events("acme"), payload);
    // A batch mixing a duplicate of a stored event with a bad one: the bad one is dead-lettered, the good one not doubled.
    await js.publish(
      subjects.events("acme"),
      JSON.stringify([events[4], { specversion: "1.0", id: "b4", source: "s", type: "costline.cost", data: { tenant: "" } }]),
    );

    const expected = expectedTotals(events);
    for (const tenant of tenants) {
      const want = expected.get(tenant)!;
      const got = await waitFor(`ledger totals for ${tenant}`, async () => {
        const t = await stack.api<Totals>(`/v1/totals?tenant=${encodeURIComponent(tenant)}`);
        return t.events >= want.events ? t : undefined;
      });
      expect(got.events).toBe(want.events);
      expect(new Decimal(got.cost_usd).equals(want.cost)).toBe(true);
      expect(got.unpriced_events).toBe(0);
    }

    // The CLI gives the same answer through the running stack's API.
    const { stdout } = await run(process.execPath, [cliPath, "totals", "--tenant", "acme"], {
      cwd: repoRoot,
      env: { ...process.env, COSTLINE_HOME: home },
    });
    const cli = JSON.parse(stdout) as Totals;
    expect(cli.events).toBe(expected.get("acme")!.events);
    expect(new Decimal(cli.cost_usd).equals(expected.get("acme")!.cost)).toBe(true);

    // The minute rollup fed by the materialized view agrees with the ledger.
    const rollup = await stack.sql<{ tenant: string; e: string; c: string }>(
      "SELECT tenant, sum(events) AS e, toString(sum(cost_usd)) AS c FROM costline.ledger_minute GROUP BY tenant",
    );
    expect(rollup).toHaveLength(4);
    for (const r of rollup) {
      expect(Number(r.e)).toBe(expected.get(r.tenant)!.events);
      expect(new Decimal(r.c).equals(expected.get(r.tenant)!.cost)).toBe(true);
    }

    // Every malformed message is in the DLQ with its reason; the stack is still up.
    const jsm = await jetstreamManager(nc);
    const dlqStream = await waitFor("DLQ records", async () => {
      const info = await jsm.streams.info("COSTLINE_DLQ");
      return info.state.messages >= bad.length + 1 ? info : undefined;
    });
    expect(dlqStream.state.messages).toBe(bad.length + 1);
    const reasons: string[] = [];
    const consumer = await js.consumers.get("COSTLINE_DLQ");
    const msgs = await consumer.fetch({ max_messages: bad.length + 1, expires: 5000 });
    for await (const m of msgs) {
      reasons.push(dlqRecordSchema.parse(m.json()).reason);
      if (reasons.length === bad.length + 1) break;
    }
    expect(reasons.sort()).toEqual([...bad.map(([r]) => r), "validation"].sort());
    expect((await getJson<{ status: string }>(`${stack.info.api_url}/healthz`)).status).toBe("ok");
    expect(stack.child.exitCode).toBeNull();
  });

  it("stops cleanly on SIGTERM and removes stack.json", async () => {
    const code = await stack.stop();
    expect(code).toBe(0);
    const { existsSync } = await import("node:fs");
    expect(existsSync(`${home}/stack.json`)).toBe(false);
  });
});
