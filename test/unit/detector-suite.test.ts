// A labeled synthetic week: seasonal multi-tenant traffic in 10-minute
// windows, with one incident per tenant on day 6 (spike, runaway loop, model
// switch, slow creep from day 5, budget burn, ROI collapse, mix shift). Every
// incident must raise an alert of the right type, on the right scope, with
// the cause in its evidence; the clean week must raise none.
import { beforeAll, describe, expect, it } from "vitest";
import { createDetector } from "../../pipeline/detect/detector.ts";
import { createBudgetTracker } from "../../pipeline/budgets/budget-tracker.ts";
import { seededRandom } from "../../pipeline/demo/traffic.ts";
import type { Alert, WindowAggregate } from "../../schemas/index.ts";

const WEEK_START = Date.UTC(2026, 2, 2); // Monday 2 March 2026
const STEP = 10 * 60_000;
const WINDOWS = 7 * 24 * 6;
const DAY6 = 5 * 24 * 6; // index of day 6, 00:00
const PRICE = { "gpt-4o-mini": 0.0006, "gpt-4o": 0.01 }; // USD per 1k output tokens, all in

type Incident = "spike" | "loop" | "switch" | "creep" | "budget" | "roi" | "mix";
const tenants: Record<Incident, string> = {
  spike: "t-spike",
  loop: "t-loop",
  switch: "t-switch",
  creep: "t-creep",
  budget: "t-budget",
  roi: "t-roi",
  mix: "t-mix",
};

function agg(
  scope: WindowAggregate["scope"],
  key: Record<string, string>,
  tenant: string,
  i: number,
  parts: { model: string; op: string; out: number; requests: number; revenue?: number }[],
): WindowAggregate {
  const byModel: Record<string, number> = {};
  const byOp: Record<string, number> = {};
  let cost = 0,
    out = 0,
    req = 0,
    rev = 0;
  for (const p of parts) {
    const c = (p.out / 1000) * PRICE[p.model as keyof typeof PRICE];
    cost += c;
    out += p.out;
    req += p.requests;
    rev += p.revenue ?? 0;
    byModel[p.model] = (byModel[p.model] ?? 0) + c;
    byOp[p.op] = (byOp[p.op] ?? 0) + c;
  }
  const money = (x: number) => x.toFixed(9);
  return {
    scope,
    key,
    tenant,
    window_start: new Date(WEEK_START + i * STEP).toISOString(),
    window_end: new Date(WEEK_START + (i + 1) * STEP).toISOString(),
    events: req,
    unpriced_events: 0,
    cost_usd: money(cost),
    revenue_usd: money(rev),
    input_tokens: out * 3,
    output_tokens: out,
    requests: req,
    by_model: Object.fromEntries(Object.entries(byModel).map(([k, v]) => [k, money(v)])),
    by_operation: Object.fromEntries(Object.entries(byOp).map(([k, v]) => [k, money(v)])),
    top_posts: {},
    top_users: {},
    final: true,
    emitted_at: new Date(WEEK_START + (i + 1) * STEP).toISOString(),
  };
}

/** The windows of one tenant at window i: tenant, per persona, per feature. */
function windowsAt(tenant: string, i: number, r: () => number, incident: Incident | null): WindowAggregate[] {
  const hour = (i % 144) / 6;
  const season = 1 + 0.5 * Math.sin(((hour - 8) / 24) * 2 * Math.PI);
  const noise = () => Math.exp(0.15 * (Math.sqrt(-2 * Math.log(r() || 1e-9)) * Math.cos(2 * Math.PI * r())));
  const on = incident !== null && i >= DAY6 + 60 && i < DAY6 + 90; // day 6, 10:00–15:00
  const volume = 40_000 * season * noise();
  let miniShare = 0.8;
  let draftShare = 0.7;
  let personaFactor = { p1: 1, p2: 1 };
  let agentFactor = 1;
  let revenueFactor = 1;
  let total = volume;
  if (incident === "spike" && i === DAY6 + 60) personaFactor = { p1: 6, p2: 1 };
  if (incident === "loop" && on && i < DAY6 + 63) agentFactor = 20;
  if (incident === "switch" && i >= DAY6 + 72) miniShare = 0;
  if (incident === "creep" && i >= DAY6 - 144) total *= 1 + 0.8 * Math.min(1, (i - (DAY6 - 144)) / 200);
  if (incident === "budget" && i >= DAY6 + 60) total *= 2.5;
  if (incident === "roi" && i >= DAY6 + 60) revenueFactor = 0.1;
  if (incident === "mix" && i >= DAY6 + 60) draftShare = 0.1;
  const personaParts = (p: "p1" | "p2") => {
    const out = (total / 2) * personaFactor[p];
    return [
      { model: "gpt-4o-mini", op: "draft", out: out * miniShare * draftShare, requests: Math.round((out * miniShare) / 400) },
      { model: "gpt-4o-mini", op: "summarize", out: out * miniShare * (1 - draftShare), requests: 0, revenue: 0 },
      { model: "gpt-4o", op: "draft", out: out * (1 - miniShare) * draftShare, requests: Math.round((out * (1 - miniShare)) / 400) },
      {
        model: "gpt-4o",
        op: "summarize",
        out: out * (1 - miniShare) * (1 - draftShare),
        requests: 0,
        revenue: ((out * 0.8 * 0.0006 + out * 0.2 * 0.01) / 1000) * 3 * revenueFactor,
      },
    ];
  };
  const agent = { model: "gpt-4o-mini", op: "tool_call", out: 2000 * season * agentFactor, requests: 5 * agentFactor };
  const p1 = personaParts("p1");
  const p2 = personaParts("p2");
  return [
    agg("tenant", { tenant }, tenant, i, [...p1, ...p2, agent]),
    agg("tenant_persona", { tenant, persona_id: "p1" }, tenant, i, p1),
    agg("tenant_persona", { tenant, persona_id: "p2" }, tenant, i, p2),
    agg("tenant_feature", { tenant, feature: "posts" }, tenant, i, [...p1, ...p2]),
    agg("tenant_feature", { tenant, feature: "agent" }, tenant, i, [agent]),
  ];
}

async function runWeek(withIncidents: boolean): Promise<Alert[]> {
  const budgets = createBudgetTracker();
  const detector = createDetector({ budgets });
  // Monthly budget: twice the month's normal spend; the burn tenant spends 2.5× from day 6.
  const normalMonthly = (31 * 144 * (40_000 * (0.8 * 0.0006 + 0.2 * 0.01))) / 1000 + (31 * 144 * 2000 * 0.0006) / 1000;
  for (const t of Object.values(tenants))
    budgets.set({
      scope: { tenant: t },
      period: "monthly",
      timezone: "UTC",
      amount_usd: (2 * normalMonthly).toFixed(2),
      thresholds: [0.5, 0.75, 0.8, 0.9, 1],
      hard: false,
    });
  const alerts: Alert[] = [];
  const r = seededRandom(7);
  for (let i = 0; i < WINDOWS; i++) {
    // A week is seconds of synchronous work, over a minute on a loaded machine: yield now and then, or
    // the worker cannot answer vitest's runner, whose calls time out after 60 s (an error, not a test).
    if (i % 24 === 0) await new Promise((resolve) => setImmediate(resolve));
    for (const [incident, tenant] of Object.entries(tenants) as [Incident, string][])
      for (const w of windowsAt(tenant, i, r, withIncidents ? incident : null)) alerts.push(...detector.process(w, new Date(w.window_end)));
  }
  return alerts.filter((a) => a.status === "firing");
}

describe("detector on a labeled synthetic week", () => {
  let incidents: Alert[] = [];
  beforeAll(async () => {
    incidents = await runWeek(true);
  }, 600_000);
  const firstOf = (tenant: string, type: Alert["type"]) => incidents.find((a) => a.tenant === tenant && a.type === type);

  it("raises nothing on the clean week", async () => {
    const clean = await runWeek(false);
    expect(clean.map((a) => `${a.tenant} ${a.type} ${a.scope} ${a.window_start} ${a.message}`)).toEqual([]);
  }, 600_000);

  it("catches a sudden spike on the persona that caused it", () => {
    const a = incidents.find((x) => x.tenant === tenants.spike && x.type === "spike" && x.scope === "tenant_persona");
    expect(a?.scope_key.persona_id).toBe("p1");
    expect(a?.severity).toBe("critical");
  });

  it("catches a runaway loop on its feature, with the operation as the cause", () => {
    const a = incidents.find((x) => x.tenant === tenants.loop && x.type === "spike" && x.scope === "tenant_feature");
    expect(a?.scope_key.feature).toBe("agent");
    expect(a?.evidence.by_operation[0]?.key).toBe("tool_call");
  });

  it("catches a silent switch to a dearer model as an efficiency loss, naming the model", () => {
    const a = firstOf(tenants.switch, "efficiency");
    expect(a).toBeDefined();
    expect(a!.evidence.by_model[0]?.key).toBe("gpt-4o");
    expect(a!.multiplier).toBeGreaterThan(3); // 80 % gpt-4o-mini → all gpt-4o: ×4 per output token
  });

  it("catches a slow creep that no single window shows", () => {
    expect(firstOf(tenants.creep, "creep")).toBeDefined();
    expect(incidents.filter((x) => x.tenant === tenants.creep && x.type === "spike")).toEqual([]);
  });

  it("warns that a budget is projected to run out, with the date", () => {
    const a = firstOf(tenants.budget, "budget_forecast");
    expect(a?.message).toMatch(/projected to exceed the monthly budget for tenant t-budget on 2026-03-\d\d/);
  });

  it("catches a persona whose posts stopped earning", () => {
    const a = incidents.find((x) => x.tenant === tenants.roi && x.type === "roi" && x.scope === "tenant_persona");
    expect(a).toBeDefined();
    expect(Number(a?.observed)).toBeLessThanOrEqual(-0.5);
  });

  it("catches a change in the cost mix that the total does not show", () => {
    const a = firstOf(tenants.mix, "mix_shift");
    expect(a?.message).toMatch(/operation:(draft|summarize)/);
    expect(incidents.filter((x) => x.tenant === tenants.mix && x.type === "spike")).toEqual([]);
  });

  it("alerts once per incident, not once per window", () => {
    const loop = incidents.filter((x) => x.tenant === tenants.loop && x.type === "spike" && x.scope === "tenant_feature");
    expect(loop.length).toBe(1);
  });
});
