// The whole escalation and recovery on the running stack and its real NATS
// KV: window aggregates for one persona go onto the windows stream, the
// detector escalates closed → throttled (spike) → degraded (efficiency on
// gpt-4o) → open (critical spike, paused for a short configured time) →
// half-open (one probe after the pause) → closed (the spike resolves after two normal windows), a
// guard watching the controls bucket follows every step, and each change is
// audited in ClickHouse with the detector alert that made it. An operator's
// override then wins over the detector until it expires.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectStack, stackCredentials } from "../helpers/stack-nats.ts";
import { jetstream, type JetStreamClient } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { createGuard, type Guard } from "../../pipeline/guard/guard.ts";
import { createSubjects } from "../../pipeline/nats/subjects.ts";
import type { WindowAggregate } from "../../schemas/index.ts";
import { startStack, tempHome, waitFor, type StackProcess } from "../helpers/stack-process.ts";

const PAUSE_S = 3;
let stack: StackProcess;
let nc: NatsConnection;
let js: JetStreamClient;
let guard: Guard;
const subjects = createSubjects("costline");
const t0 = Date.parse("2026-11-23T08:00:00Z");
let n = 0;

/** The next one-minute window of persona p1 of tenant "cycle". */
function next(cost: string, outputTokens: number): WindowAggregate {
  const start = t0 + n++ * 60_000;
  return {
    scope: "tenant_persona",
    key: { tenant: "cycle", persona_id: "p1" },
    tenant: "cycle",
    window_start: new Date(start).toISOString(),
    window_end: new Date(start + 60_000).toISOString(),
    events: 10,
    unpriced_events: 0,
    cost_usd: cost,
    revenue_usd: "0",
    input_tokens: 5000,
    output_tokens: outputTokens,
    requests: 10,
    by_model: { "gpt-4o": cost },
    by_operation: { chat: cost },
    top_posts: { "post-1": cost },
    top_users: {},
    final: true,
    emitted_at: new Date(start + 61_000).toISOString(),
  };
}
const publish = (w: WindowAggregate) =>
  js.publish(subjects.windows(w.scope, w.tenant), JSON.stringify([w]), { msgID: `cycle-${w.window_start}` });
const check = (model = "gpt-4o") => guard.check({ tenant: "cycle", persona: "p1", model });
const until = (what: string, ok: (d: ReturnType<typeof check>) => boolean) =>
  waitFor(
    what,
    async () => {
      const d = check();
      return ok(d) ? d : undefined;
    },
    20_000,
  );

beforeAll(async () => {
  stack = await startStack(tempHome(), { COSTLINE_THROTTLE_RPM: "2", COSTLINE_PAUSE_MINUTES: String(PAUSE_S / 60) });
  nc = await connectStack(stack);
  js = jetstream(nc);
  guard = await createGuard({ servers: stack.info.nats_url, auth: stackCredentials(stack, "publisher") });
  await guard.ready;
  // A steady baseline: about $0.10 and 10,000 output tokens a minute.
  for (let i = 0; i < 14; i++) await publish(next((0.1 + (i % 3) * 0.005).toFixed(3), 10_000));
});
afterAll(async () => {
  await guard?.close();
  await nc?.close();
  if (stack?.child.exitCode === null) await stack.stop();
});

describe("escalation and recovery", () => {
  it("throttles, degrades, pauses, probes and recovers, audited at each step", async () => {
    expect(check()).toMatchObject({ allow: true, state: "closed" });

    // 4× the baseline at the same cost per token: a spike → throttled to 2 requests a minute.
    await publish(next("0.4", 40_000));
    await until("throttled", (d) => d.state === "throttled");
    const burst = [check(), check(), check()];
    expect(burst.filter((d) => d.allow).length).toBeLessThanOrEqual(2);
    expect(burst.at(-1)).toMatchObject({ allow: false, state: "throttled" });
    expect(burst.at(-1)!.waitMs).toBeGreaterThan(0);

    // Normal cost but half the output for it on gpt-4o: an efficiency loss → degraded to gpt-4o-mini.
    await publish(next("0.1", 5_000));
    const degraded = await until("degraded", (d) => d.state === "degraded");
    expect(degraded).toMatchObject({ allow: true, model: "gpt-4o-mini" });
    expect(check("claude-opus-4-1").model).toBe("claude-opus-4-1"); // only the mapped model changes

    // 6× the baseline: a critical anomaly pauses the persona for the configured time.
    await publish(next("0.6", 60_000));
    const paused = await until("paused", (d) => d.state === "open" && !d.allow);
    expect(paused.reason).toMatch(/^spike \(critical\)/);
    expect(paused.waitMs).toBeLessThanOrEqual(PAUSE_S * 1000);
    expect(guard.check({ tenant: "cycle", persona: "p2", model: "gpt-4o" }).allow).toBe(true); // other personas go on

    // After the pause: half-open, one probe per interval.
    await new Promise((r) => setTimeout(r, paused.waitMs + 100));
    const probe = check();
    expect(probe).toMatchObject({ allow: true, state: "open" });
    expect(probe.reason).toMatch(/^probe: /);
    expect(check().allow).toBe(false);

    // Normal windows: after two in a row (the detector's hygiene) the spike resolves and the detector clears its control.
    await publish(next("0.105", 10_000));
    await publish(next("0.1", 10_000));
    await until("closed again", (d) => d.state === "closed" && d.allow);

    const audit = await stack.sql<{ action: string; state: string; changed_by: string; reason: string }>(
      "SELECT action, state, changed_by, reason FROM costline.control_changes WHERE tenant = 'cycle' ORDER BY changed_at",
    );
    expect(audit.map((a) => [a.action, a.state])).toEqual([
      ["set", "throttled"],
      ["set", "degraded"],
      ["set", "open"],
      ["clear", "closed"],
    ]);
    expect(audit.every((a) => a.changed_by.startsWith("detector:"))).toBe(true);
    expect(audit[3]!.reason).toMatch(/^resolved: back to normal/);
  });

  it("lets an operator's override win over the detector until it expires", async () => {
    const put = await fetch(`${stack.info.api_url}/v1/controls`, {
      method: "PUT",
      headers: { authorization: `Bearer ${stack.adminKey}`, "content-type": "application/json" },
      body: JSON.stringify({
        scope: { tenant: "cycle", persona_id: "p1" },
        state: "throttled",
        throttle: { requests_per_minute: 1000 },
        reason: "load test",
        expires_at: new Date(Date.now() + 4000).toISOString(),
      }),
    });
    expect(put.status).toBe(200);
    await until("the override", (d) => d.state === "throttled");
    // A critical spike now would pause the persona, but the override stands.
    await publish(next("0.7", 70_000));
    await new Promise((r) => setTimeout(r, 1000));
    expect(check()).toMatchObject({ allow: true, state: "throttled" });
    await until("the override to expire", (d) => d.state === "closed");
    const changes = await stack.sql<{ changed_by: string }>(
      "SELECT changed_by FROM costline.control_changes WHERE tenant = 'cycle' ORDER BY changed_at",
    );
    expect(changes.at(-1)!.changed_by).toMatch(/^operator:/);
  });
});
