// The detector stage on the running stack: steady traffic builds a baseline
// in one-second windows, a burst on one persona raises a spike alert within
// seconds with the cause in its evidence, and budgets (a tenant's put in the
// KV bucket, a persona's and a user's set through the API) raise budget alerts
// as spend crosses their thresholds; hard ones pause exactly their scope.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectStack, stackCredentials } from "../helpers/stack-nats.ts";
import { jetstream } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/nats-core";
import { createProducer, type Producer } from "../../pipeline/producer/producer.ts";
import { createGuard } from "../../pipeline/guard/guard.ts";
import { alertSchema, type Alert, type CostlineEventInput } from "../../schemas/index.ts";
import { startStack, tempHome, waitFor, type StackProcess } from "../helpers/stack-process.ts";

let stack: StackProcess;
let nc: NatsConnection;
let producer: Producer;
const alerts: Alert[] = [];
let seq = 0;

function call(tenant: string, persona: string, post: string, outputTokens: number): CostlineEventInput {
  return {
    specversion: "1.0",
    id: `d-${seq++}`,
    source: "test/detector",
    type: "costline.llm.usage",
    time: new Date().toISOString(),
    data: {
      tenant,
      persona_id: persona,
      post_id: post,
      user_id: "u-9",
      provider: "openai",
      model: "gpt-4o-mini",
      usage: { input_tokens: 500, output_tokens: outputTokens },
    },
  };
}

beforeAll(async () => {
  stack = await startStack(tempHome(), { COSTLINE_WINDOW_S: "1", COSTLINE_ALLOWED_LATENESS_S: "1", COSTLINE_WINDOW_EMIT_MS: "100" });
  nc = await connectStack(stack);
  producer = await createProducer({ nc });
  // Collect every alert the detector publishes.
  const consumer = await jetstream(nc).consumers.get("COSTLINE_ALERTS");
  void (async () => {
    for await (const m of await consumer.consume()) alerts.push(alertSchema.parse(m.json()));
  })();
});
afterAll(async () => {
  await nc?.close();
  if (stack?.child.exitCode === null) await stack.stop();
});

describe("detector stage", () => {
  it("alerts on a spike within seconds, naming the persona and the post behind it", async () => {
    // 16 s of steady traffic: 10 calls a second, spread over two personas.
    for (let s = 0; s < 16; s++) {
      await producer.publish(Array.from({ length: 10 }, (_, i) => call("acme", i % 2 ? "p-a" : "p-b", `post-${i}`, 400)));
      await new Promise((r) => setTimeout(r, 1000));
    }
    const sent = Date.now();
    // A runaway loop on one persona and one post: 40 long calls in one second.
    await producer.publish(Array.from({ length: 40 }, () => call("acme", "p-a", "post-loop", 4000)));
    const spike = await waitFor(
      "a spike alert on persona p-a",
      async () => alerts.find((a) => a.type === "spike" && a.scope === "tenant_persona" && a.scope_key.persona_id === "p-a"),
      20_000,
    );
    expect(Date.now() - sent).toBeLessThan(10_000);
    expect(spike.status).toBe("firing");
    expect(spike.multiplier).toBeGreaterThanOrEqual(3);
    expect(spike.evidence.by_post[0]?.key).toBe("post-loop");
    expect(spike.evidence.by_model[0]?.key).toBe("gpt-4o-mini");
    // It is stored too.
    const stored = await waitFor("the alert in ClickHouse", async () => {
      const rows = await stack.sql<{ n: number }>(`SELECT toUInt32(count()) AS n FROM costline.alerts WHERE id = '${spike.id}'`);
      return rows[0]?.n === 1 ? true : undefined;
    });
    expect(stored).toBe(true);
    // The escalation policy paused the persona (critical); a producer's guard obeys it.
    expect(spike.severity).toBe("critical");
    const guard = await createGuard({ servers: stack.info.nats_url, auth: stackCredentials(stack, "publisher") });
    await guard.ready;
    const d = await waitFor("the pause to reach the guard", async () => {
      const x = guard.check({ tenant: "acme", persona: "p-a", model: "gpt-4o-mini" });
      return x.allow ? undefined : x;
    });
    expect(d).toMatchObject({ state: "open", allow: false });
    expect(d.waitMs).toBeGreaterThan(55 * 60_000);
    expect(guard.check({ tenant: "acme", persona: "p-b", model: "gpt-4o-mini" }).allow).toBe(true);
    await guard.close();
    // Every change is audited: the persona paused, the tenant and its model throttled by their own spikes.
    const audit = await stack.sql<{ scope_key: string; changed_by: string; state: string }>(
      "SELECT scope_key, changed_by, state FROM costline.control_changes WHERE tenant = 'acme' ORDER BY scope_key",
    );
    expect(audit.map((r) => [r.scope_key, r.state])).toEqual([
      ["acme.model.gpt-4o-mini", "throttled"],
      ["acme.persona.p-a", "open"],
      ["acme.tenant", "throttled"],
    ]);
    expect(audit.every((r) => r.changed_by.startsWith("detector:"))).toBe(true);
  });

  it("raises budget alerts from a budget put in the KV bucket", async () => {
    const kv = await new Kvm(nc).open("costline-budgets");
    await kv.put("globex", JSON.stringify({ tenant: "globex", period: "monthly", amount_usd: "0.01", hard: true }));
    await new Promise((r) => setTimeout(r, 500));
    // gpt-4o-mini: 500 in × 0.15 + 4000 out × 0.60 per 1M = 0.002475 per call → 0.0099 for 4 calls, 0.012 for 5.
    await producer.publish(Array.from({ length: 5 }, () => call("globex", "p-g", "post-g", 4000)));
    const budget = await waitFor(
      "budget alert",
      async () => alerts.find((a) => a.tenant === "globex" && a.type === "budget" && a.severity === "critical"),
      20_000,
    );
    expect(budget.message).toMatch(/1\d\d % of the monthly budget/);
    // A hard budget at 100 % pauses the tenant until the month ends.
    const guard = await createGuard({ servers: stack.info.nats_url, auth: stackCredentials(stack, "publisher") });
    await guard.ready;
    const d = await waitFor("the tenant pause", async () => {
      const x = guard.check({ tenant: "globex", model: "gpt-4o-mini" });
      return x.allow ? undefined : x;
    });
    expect(d.reason).toMatch(/^budget \(critical\)/);
    await guard.close();
  });

  it("keeps persona and user budgets apart: a hard persona budget pauses that persona only", async () => {
    const put = (body: unknown) =>
      fetch(`${stack.info.api_url}/v1/budgets`, {
        method: "PUT",
        headers: { authorization: `Bearer ${stack.adminKey}`, "content-type": "application/json" },
        body: JSON.stringify(body),
      });
    expect(
      (
        await put({
          scope: { tenant: "initech", persona_id: "p-x" },
          period: "daily",
          timezone: "America/New_York",
          amount_usd: "0.01",
          hard: true,
        })
      ).status,
    ).toBe(200);
    expect(
      (await put({ scope: { tenant: "initech", user_id: "u-9" }, period: "rolling_30d", amount_usd: "0.02", thresholds: [1] })).status,
    ).toBe(200);
    await new Promise((r) => setTimeout(r, 500));
    // 5 calls (0.012375) on each persona, all by user u-9 (0.02475 in all).
    await producer.publish([
      ...Array.from({ length: 5 }, () => call("initech", "p-x", "post-x", 4000)),
      ...Array.from({ length: 5 }, () => call("initech", "p-y", "post-y", 4000)),
    ]);
    const persona = await waitFor(
      "the persona budget alert",
      async () => alerts.find((a) => a.budget?.key === "initech.persona.p-x.daily" && a.severity === "critical"),
      20_000,
    );
    expect(persona).toMatchObject({
      scope: "tenant_persona",
      budget: { hard: true, timezone: "America/New_York", scope: { tenant: "initech", persona_id: "p-x" } },
    });
    expect(persona.message).toMatch(/^1\d\d % of the daily \(America\/New_York\) budget for persona p-x of initech/);
    expect(Date.parse(persona.budget!.resets_at) - Date.parse(persona.budget!.period_start)).toBeGreaterThanOrEqual(23 * 3_600_000);
    const user = await waitFor(
      "the user budget alert",
      async () => alerts.find((a) => a.budget?.key === "initech.user.u-9.rolling_30d"),
      20_000,
    );
    expect(user).toMatchObject({ scope: "tenant_user", scope_key: { tenant: "initech", user_id: "u-9" }, budget: { hard: false } });
    expect(alerts.some((a) => a.budget?.key === "initech.persona.p-y.daily")).toBe(false);

    const guard = await createGuard({ servers: stack.info.nats_url, auth: stackCredentials(stack, "publisher") });
    await guard.ready;
    const d = await waitFor("the persona pause", async () => {
      const x = guard.check({ tenant: "initech", persona: "p-x", model: "gpt-4o-mini" });
      return x.allow ? undefined : x;
    });
    expect(d).toMatchObject({ state: "open" });
    expect(d.reason).toMatch(/^budget \(critical\)/);
    // Paused until the New York day ends.
    expect(Math.abs(Date.now() + d.waitMs - Date.parse(persona.budget!.resets_at))).toBeLessThan(5000);
    // The other persona, and the soft user budget, do not pause anything.
    expect(guard.check({ tenant: "initech", persona: "p-y", user: "u-9", model: "gpt-4o-mini" }).allow).toBe(true);
    await guard.close();
  });
});
