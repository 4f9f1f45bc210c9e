// A restarted detector does not alert again on budget thresholds it already
// alerted this period: it reads them back from the stored alerts. A budget
// set after the restart on a scope that already spent past it still alerts.
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { connect } from "@nats-io/transport-node";
import { jetstream } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { createProducer } from "../../pipeline/producer/producer.ts";
import { startEmbeddedNats } from "../../pipeline/nats/embedded-server.ts";
import { alertSchema, type Alert, type CostlineEventInput } from "../../schemas/index.ts";
import { startStack, tempHome, waitFor, type StackProcess } from "../helpers/stack-process.ts";

const cleanup: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const fn of cleanup.reverse()) await fn().catch(() => undefined);
});

let seq = 0;
// gpt-4o-mini: 500 in × 0.15 + 4000 out × 0.60 per 1M = 0.002475 per call.
const call = (): CostlineEventInput => ({
  specversion: "1.0",
  id: `br-${seq++}`,
  source: "test/budget-restart",
  type: "costline.llm.usage",
  time: new Date().toISOString(),
  data: {
    tenant: "globex",
    persona_id: "p-g",
    post_id: "post-g",
    provider: "openai",
    model: "gpt-4o-mini",
    usage: { input_tokens: 500, output_tokens: 4000 },
  },
});

describe("budgets across a detector restart", () => {
  it("stays quiet on thresholds alerted before the restart and alerts a new budget", async () => {
    const home = tempHome();
    const nats = await startEmbeddedNats({
      bin: "nats-server",
      storeDir: path.join(home, "external-nats"),
      logFile: path.join(home, "external-nats.log"),
    });
    cleanup.push(() => nats.stop());
    const env = { NATS_URL: nats.url, COSTLINE_WINDOW_S: "1", COSTLINE_ALLOWED_LATENESS_S: "1", COSTLINE_WINDOW_EMIT_MS: "100" };
    let stack: StackProcess = await startStack(home, env);
    cleanup.push(() => (stack.child.exitCode === null ? stack.kill() : Promise.resolve()));

    const nc = await connect({ servers: nats.url });
    cleanup.push(() => nc.close());
    const producer = await createProducer({ nc });
    const alerts: Alert[] = [];
    const consumer = await jetstream(nc).consumers.get("COSTLINE_ALERTS");
    void (async () => {
      for await (const m of await consumer.consume()) alerts.push(alertSchema.parse(m.json()));
    })();
    const budgetAlerts = (key: string) => alerts.filter((a) => a.type === "budget" && a.budget?.key === key);

    const budgets = await new Kvm(nc).open("costline-budgets");
    await budgets.put("globex.tenant.monthly", JSON.stringify({ scope: { tenant: "globex" }, period: "monthly", amount_usd: "0.01" }));
    await new Promise((r) => setTimeout(r, 500));
    await producer.publish(Array.from({ length: 5 }, call)); // 0.012: 124 %
    const critical = await waitFor(
      "the tenant budget at 100 %",
      async () => budgetAlerts("globex.tenant.monthly").find((a) => a.severity === "critical"),
      20_000,
    );
    await waitFor("the alert stored", async () => {
      const rows = await stack.sql<{ n: number }>(`SELECT toUInt32(count()) AS n FROM costline.alerts WHERE id = '${critical.id}'`);
      return rows[0]?.n === 1 ? true : undefined;
    });
    const before = budgetAlerts("globex.tenant.monthly").length;

    expect(await stack.stop()).toBe(0);
    stack = await startStack(home, env);

    // A new persona budget, already overspent by the calls above. Calls go on
    // until it alerts: that proves the restarted detector reads globex's windows.
    await budgets.put(
      "globex.persona.p-g.monthly",
      JSON.stringify({ scope: { tenant: "globex", persona_id: "p-g" }, period: "monthly", amount_usd: "0.001" }),
    );
    const persona = await waitFor(
      "the new persona budget alert",
      async () => {
        const hit = budgetAlerts("globex.persona.p-g.monthly")[0];
        if (!hit) await producer.publish([call()]);
        return hit;
      },
      30_000,
    );
    expect(persona.severity).toBe("critical");
    expect(persona.message).toMatch(/^\d{4,} % of the monthly budget for persona p-g of globex/);
    // The tenant's windows of the same seconds were read too; give them time to (wrongly) alert.
    await producer.publish([call()]);
    await new Promise((r) => setTimeout(r, 3000));
    expect(budgetAlerts("globex.tenant.monthly")).toHaveLength(before);
    expect(await stack.stop()).toBe(0);
  }, 150_000);
});
