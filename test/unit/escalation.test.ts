import { describe, expect, it } from "vitest";
import { escalate, detectorTag } from "../../pipeline/guard/escalation.ts";
import type { Alert, Control } from "../../schemas/index.ts";

const NOW = new Date("2026-11-22T10:00:00Z");
const alert = (a: Partial<Alert>): Alert => ({
  id: "a",
  fingerprint: "fp",
  type: "spike",
  severity: "medium",
  status: "firing",
  tenant: "acme",
  scope: "tenant_persona",
  scope_key: { tenant: "acme", persona_id: "ai_jesus" },
  observed: "1",
  expected: "0.2",
  multiplier: 5,
  score: 9,
  window_start: NOW.toISOString(),
  window_end: NOW.toISOString(),
  first_seen: NOW.toISOString(),
  detected_at: NOW.toISOString(),
  message: "cost 5× the baseline",
  evidence: { by_model: [{ key: "gpt-4o", cost_usd: "1", share: 1 }], by_operation: [], by_post: [], by_user: [] },
  ...a,
});

describe("escalation policy", () => {
  it("throttles a spiking scope", () => {
    const act = escalate(alert({}), undefined, { now: NOW });
    expect(act).toMatchObject({
      action: "set",
      control: {
        state: "throttled",
        scope: { tenant: "acme", persona_id: "ai_jesus" },
        throttle: { requests_per_minute: 60 },
        set_by: "detector:fp",
      },
    });
  });

  it("pauses a persona for an hour on a critical anomaly", () => {
    const act = escalate(alert({ severity: "critical" }), undefined, { now: NOW });
    expect(act).toMatchObject({ action: "set", control: { state: "open", paused_until: "2026-11-22T11:00:00.000Z" } });
  });

  it("degrades a dearer model to its cheaper stand-in", () => {
    const act = escalate(alert({ type: "efficiency", severity: "high", scope: "tenant", scope_key: { tenant: "acme" } }), undefined, {
      now: NOW,
    });
    expect(act).toMatchObject({
      action: "set",
      control: { state: "degraded", model_map: { "gpt-4o": "gpt-4o-mini" }, scope: { tenant: "acme" } },
    });
  });

  it("pauses the budget's scope until the period resets at a hard budget's 100 %, not a soft one", () => {
    const budget = {
      key: "acme.persona.ai_jesus.monthly",
      scope: { tenant: "acme", persona_id: "ai_jesus" },
      period: "monthly",
      timezone: "Europe/Berlin",
      amount_usd: "10",
      spend_usd: "10.2",
      hard: true,
      period_start: "2026-10-31T23:00:00.000Z",
      resets_at: "2026-11-30T23:00:00.000Z",
    };
    // The window that crossed it is the persona's; the control lands on the budget's scope.
    const a = alert({
      type: "budget",
      severity: "critical",
      multiplier: 1.02,
      scope: "tenant_persona",
      scope_key: { tenant: "acme", persona_id: "ai_jesus" },
      budget,
    });
    expect(escalate(a, undefined, { now: NOW })).toMatchObject({
      action: "set",
      control: { state: "open", paused_until: "2026-11-30T23:00:00.000Z", scope: { tenant: "acme", persona_id: "ai_jesus" } },
    });
    expect(escalate({ ...a, budget: { ...budget, hard: false } }, undefined, { now: NOW })).toBeNull();
    expect(escalate({ ...a, multiplier: 0.9 }, undefined, { now: NOW })).toBeNull(); // 90 % alerts, it does not pause
  });

  it("clears its own control when the alert resolves, never an operator's", () => {
    const own: Control = {
      scope: { tenant: "acme", persona_id: "ai_jesus" },
      state: "throttled",
      reason: "x",
      set_by: detectorTag({ fingerprint: "fp" }),
      set_at: NOW.toISOString(),
      probe_every_s: 30,
    };
    expect(escalate(alert({ status: "resolved" }), own, { now: NOW })).toMatchObject({ action: "clear" });
    const manual: Control = { ...own, set_by: "operator:key-1", state: "closed" };
    expect(escalate(alert({ status: "resolved" }), manual, { now: NOW })).toBeNull();
    expect(escalate(alert({ severity: "critical" }), manual, { now: NOW })).toBeNull(); // an override wins while it lasts
    const expired: Control = { ...manual, expires_at: "2026-11-22T09:00:00Z" };
    expect(escalate(alert({ severity: "critical" }), expired, { now: NOW })).toMatchObject({ action: "set" });
  });

  it("never weakens a stronger control, and ignores alerts that are not controls", () => {
    const paused: Control = {
      scope: { tenant: "acme", persona_id: "ai_jesus" },
      state: "open",
      reason: "x",
      set_by: "detector:other",
      set_at: NOW.toISOString(),
      probe_every_s: 30,
    };
    expect(escalate(alert({}), paused, { now: NOW })).toBeNull();
    expect(escalate(alert({ type: "roi" }), undefined, { now: NOW })).toBeNull();
    expect(escalate(alert({ scope: "post", scope_key: { tenant: "acme", post_id: "p" } }), undefined, { now: NOW })).toBeNull();
  });
});
