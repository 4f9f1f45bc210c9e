// Budgets on a real stack (`costline up`, NATS, the embedded ClickHouse): a
// budget set on a persona that already spent past it alerts at once with no
// further traffic; GET /v1/budgets/status reports the ledger's figures and
// the open holds; a call downgraded from gpt-4o to gpt-4o-mini is held,
// settled and counted against gpt-4o-mini's budget, not gpt-4o's.
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connect } from "@nats-io/transport-node";
import type { NatsConnection } from "@nats-io/nats-core";
import { jetstream } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { createProducer, type Producer } from "../../pipeline/producer/producer.ts";
import { startEmbeddedNats, type EmbeddedNats } from "../../pipeline/nats/embedded-server.ts";
import { createGuard, putControl } from "../../pipeline/guard/guard.ts";
import { createBudgetReservations } from "../../pipeline/guard/budget-reservations.ts";
import { createBreakers, guardedCallResult } from "../../pipeline/guard/guarded-call.ts";
import type { BudgetStatus } from "../../pipeline/budgets/budget-status.ts";
import { alertSchema, type Alert, type CostlineEventInput } from "../../schemas/index.ts";
import { startStack, tempHome, waitFor, type StackProcess } from "../helpers/stack-process.ts";
import { runCli } from "../helpers/cli-process.ts";

const cleanup: (() => Promise<unknown>)[] = [];
let stack: StackProcess;
let nats: EmbeddedNats;
let nc: NatsConnection;
let producer: Producer;
const alerts: Alert[] = [];

afterAll(async () => {
  for (const fn of cleanup.reverse()) await fn().catch(() => undefined);
});

beforeAll(async () => {
  const home = tempHome("costline-budget-status-");
  nats = await startEmbeddedNats({
    bin: "nats-server",
    storeDir: path.join(home, "external-nats"),
    logFile: path.join(home, "external-nats.log"),
  });
  cleanup.push(() => nats.stop());
  stack = await startStack(home, {
    NATS_URL: nats.url,
    COSTLINE_WINDOW_S: "1",
    COSTLINE_ALLOWED_LATENESS_S: "1",
    COSTLINE_WINDOW_EMIT_MS: "100",
    COSTLINE_RESERVATION_SYNC_MS: "300",
  });
  cleanup.push(() => stack.kill());
  nc = await connect({ servers: nats.url });
  cleanup.push(() => nc.close());
  producer = await createProducer({ nc });
  const consumer = await jetstream(nc).consumers.get("COSTLINE_ALERTS");
  void (async () => {
    for await (const m of await consumer.consume()) alerts.push(alertSchema.parse(m.json()));
  })();
}, 120_000);

async function send(method: string, p: string, body?: unknown): Promise<Response> {
  return fetch(`${stack.info.api_url}${p}`, {
    method,
    headers: { authorization: `Bearer ${stack.adminKey}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

async function status(tenant: string): Promise<Map<string, BudgetStatus>> {
  const res = await stack.api<{ budgets: BudgetStatus[] }>(`/v1/budgets/status?tenant=${tenant}`);
  return new Map(res.budgets.map((b) => [b.key, b]));
}

const ledgerSum = async (where: string) =>
  (
    await stack.sql<{ s: string; n: number }>(
      `SELECT toString(sum(cost_usd)) AS s, toUInt32(count()) AS n FROM costline.ledger WHERE ${where}`,
    )
  )[0]!;

let seq = 0;
// gpt-4o-mini: 500 in × 0.15 + 4000 out × 0.60 per 1M = 0.002475 per call.
const call = (tenant: string, persona: string): CostlineEventInput => ({
  specversion: "1.0",
  id: `bs-${seq++}`,
  source: "test/budget-status",
  type: "costline.llm.usage",
  time: new Date().toISOString(),
  data: { tenant, persona_id: persona, provider: "openai", model: "gpt-4o-mini", usage: { input_tokens: 500, output_tokens: 4000 } },
});

describe("budgets on a running stack", () => {
  it("alerts within 5 s when a budget is set on a persona that already spent 275 % of it, with no further traffic", async () => {
    await producer.publish(Array.from({ length: 5 }, () => call("initech", "p-over"))); // $0.012375
    await waitFor("the calls in the ledger", async () => ((await ledgerSum("tenant = 'initech'")).n === 5 ? true : undefined));
    // Let the traffic's windows close (1 s windows, 1 s lateness): from here on nothing comes for the scope.
    await new Promise((r) => setTimeout(r, 4000));
    const set = Date.now();
    const put = await send("PUT", "/v1/budgets", {
      scope: { tenant: "initech", persona_id: "p-over" },
      period: "monthly",
      amount_usd: "0.0045",
    });
    expect(put.status).toBe(200);
    const alert = await waitFor(
      "the budget alert",
      async () => alerts.find((a) => a.type === "budget" && a.budget?.key === "initech.persona.p-over.monthly"),
      15_000,
    );
    expect(Date.now() - set).toBeLessThan(5_000);
    expect(alert).toMatchObject({
      severity: "critical",
      status: "firing",
      tenant: "initech",
      scope: "tenant_persona",
      scope_key: { persona_id: "p-over" },
    });
    expect(alert.message).toMatch(/^275 % of the monthly budget for persona p-over of initech/);
    expect(alert.budget?.spend_usd).toBe("0.012375");
    // It alerted once: the windows' evaluation treats the threshold as crossed.
    await producer.publish([call("initech", "p-over")]);
    await new Promise((r) => setTimeout(r, 3000));
    expect(alerts.filter((a) => a.budget?.key === "initech.persona.p-over.monthly")).toHaveLength(1);
  }, 120_000);

  it("reports the ledger's spend, the thresholds crossed and what is left", async () => {
    const ledger = await ledgerSum("tenant = 'initech' AND persona_id = 'p-over'");
    const s = (await status("initech")).get("initech.persona.p-over.monthly")!;
    expect(s.spent_usd).toBe(ledger.s);
    expect(s).toMatchObject({ amount_usd: "0.0045", reserved_usd: "0", remaining_usd: "0", thresholds_crossed: [0.5, 0.75, 0.9, 1] });
    expect(s.over_usd).toBe("0.01035");
    expect(Number(s.projected_usd)).toBeGreaterThanOrEqual(Number(s.spent_usd));
    // The CLI prints the same status, found through stack.json.
    const cli = await runCli(["budgets", "status", "--tenant", "initech"], { COSTLINE_HOME: stack.home });
    expect(cli.code).toBe(0);
    const printed = (JSON.parse(cli.stdout) as { budgets: BudgetStatus[] }).budgets.find((b) => b.key === "initech.persona.p-over.monthly");
    expect(printed).toMatchObject({ spent_usd: ledger.s, remaining_usd: "0", thresholds_crossed: [0.5, 0.75, 0.9, 1] });
  }, 60_000);

  it("holds, settles and counts a call downgraded from gpt-4o to gpt-4o-mini against gpt-4o-mini's budget", async () => {
    await putControl(await new Kvm(nc).open("costline-controls"), {
      scope: { tenant: "hooli" },
      state: "degraded",
      model_map: { "gpt-4o": "gpt-4o-mini" },
      reason: "cost review",
      set_by: "operator:test",
      set_at: new Date().toISOString(),
      probe_every_s: 30,
    });
    for (const model of ["gpt-4o", "gpt-4o-mini"])
      expect(
        (await send("PUT", "/v1/budgets", { scope: { tenant: "hooli", model }, period: "monthly", amount_usd: "1", hard: true })).status,
      ).toBe(200);
    const guard = await createGuard({ nc });
    cleanup.push(() => guard.close());
    await waitFor("the degraded control in the guard", async () =>
      guard.check({ tenant: "hooli", model: "gpt-4o" }).state === "degraded" ? true : undefined,
    );
    const reservations = await createBudgetReservations({ nc });
    cleanup.push(() => reservations.close());
    let calledWith = "";
    const base = {
      guard,
      producer,
      reservations,
      breakers: createBreakers(),
      provider: "openai",
      apiFlavor: "chat",
      model: "gpt-4o",
      source: "test/budget-status",
      attribution: { tenant: "hooli", persona_id: "p-h" },
      estimate: { inputTokens: 1000, outputTokens: 1000 },
      call: async (model: string) => {
        calledWith = model;
        return { model, usage: { prompt_tokens: 1000, completion_tokens: 500 } };
      },
    };
    // Until the stack has read the new budgets' spend from the ledger, a hard budget holds nothing.
    const result = await waitFor(
      "the call, once the counters are synced",
      async () => {
        try {
          return await guardedCallResult(base);
        } catch (err) {
          if ((err as { retryable?: boolean }).retryable) return undefined;
          throw err;
        }
      },
      30_000,
    );
    expect(calledWith).toBe("gpt-4o-mini");
    expect(result).toMatchObject({ model: "gpt-4o-mini", requestedModel: "gpt-4o" });
    expect(result.costUsd).toBe("0.00045"); // 1000 × 0.15 + 500 × 0.60 per 1M
    const row = await waitFor(
      "the usage event in the ledger",
      async () => (await stack.sql<{ model: string }>("SELECT model FROM costline.ledger WHERE tenant = 'hooli'"))[0],
    );
    expect(row.model).toBe("gpt-4o-mini");
    const settled = await waitFor(
      "the ledger sync to take the settled cost over",
      async () => {
        const m = await status("hooli");
        return m.get("hooli.model.gpt-4o-mini.monthly")?.spent_usd === "0.00045" &&
          m.get("hooli.model.gpt-4o-mini.monthly")?.pending_usd === "0"
          ? m
          : undefined;
      },
      30_000,
    );
    expect(settled.get("hooli.model.gpt-4o-mini.monthly")).toMatchObject({
      spent_usd: "0.00045",
      reserved_usd: "0",
      remaining_usd: "0.99955",
    });
    expect(settled.get("hooli.model.gpt-4o.monthly")).toMatchObject({
      spent_usd: "0",
      reserved_usd: "0",
      pending_usd: "0",
      remaining_usd: "1",
    });

    // An open hold shows as reserved on the budget of the model it is for.
    const hold = await reservations.reserve({ tenant: "hooli", model: "gpt-4o-mini" }, "0.25");
    expect(hold.ok).toBe(true);
    const held = (await status("hooli")).get("hooli.model.gpt-4o-mini.monthly")!;
    expect(held).toMatchObject({ spent_usd: "0.00045", reserved_usd: "0.25", remaining_usd: "0.74955" });
    if (hold.ok) await hold.reservation.release();
  }, 120_000);
});
