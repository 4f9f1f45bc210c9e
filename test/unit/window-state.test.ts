import { describe, expect, it } from "vitest";
import { createWindowState, type WindowSnapshotV2 } from "../../pipeline/windows/window-state.ts";
import type { PricedEvent } from "../../schemas/index.ts";

const T0 = Date.UTC(2026, 10, 22, 10, 0, 0);
const MIN = 60_000;

function ev(id: string, offsetMs: number, cost: string, extra: Partial<PricedEvent> = {}): PricedEvent {
  return {
    event_id: id,
    source: "t",
    type: "costline.llm.usage",
    kind: "llm",
    time: new Date(T0 + offsetMs).toISOString(),
    tenant: "acme",
    provider: "openai",
    model: "gpt-4o",
    model_requested: "gpt-4o",
    category: "",
    usage: { input_tokens: 10, output_tokens: 5 },
    batch: false,
    cost_usd: cost,
    revenue_usd: "0",
    priced: true,
    price_source: "x",
    price_version: "1",
    components: [],
    attribution_method: "direct",
    enriched_at: new Date(T0).toISOString(),
    persona_id: "ai_jesus",
    post_id: "p1",
    operation: "draft",
    ...extra,
  };
}

describe("event-time windows", () => {
  it("puts out-of-order events in the window of their event time, per scope", () => {
    const s = createWindowState({ windowMs: MIN, latenessMs: 2 * MIN });
    const now = T0 + 3 * MIN;
    expect(s.add(ev("b", 90_000, "0.2"), now).status).toBe("added"); // second window first
    expect(s.add(ev("a", 10_000, "0.1"), now).status).toBe("added"); // then the first
    expect(s.add(ev("c", 20_000, "0.3", { model: "gpt-4o-mini" }), now).status).toBe("added");
    const { updates } = s.tick(now);
    const tenant = updates.filter((u) => u.scope === "tenant").sort((x, y) => x.window_start.localeCompare(y.window_start));
    expect(tenant.map((u) => [u.window_start.slice(11, 16), u.cost_usd, u.events])).toEqual([
      ["10:00", "0.4", 2],
      ["10:01", "0.2", 1],
    ]);
    const models = updates.filter((u) => u.scope === "tenant_model" && u.window_start.includes("10:00"));
    expect(models.map((u) => [u.key.model, u.cost_usd]).sort()).toEqual([
      ["gpt-4o", "0.1"],
      ["gpt-4o-mini", "0.3"],
    ]);
    expect(tenant[0]!.by_model).toEqual({ "gpt-4o": "0.1", "gpt-4o-mini": "0.3" });
    expect(updates.map((u) => u.scope)).toEqual(expect.arrayContaining(["tenant_persona", "tenant_operation"]));
    expect(updates.map((u) => u.scope)).not.toContain("post"); // post windows are published final only
  });

  it("accepts late events within the allowed lateness and refuses them after", () => {
    const s = createWindowState({ windowMs: MIN, latenessMs: 2 * MIN });
    const now = T0 + 3.6 * MIN; // the wall clock alone would close 10:00 at 10:04
    s.add(ev("a", 10_000, "1"), now);
    s.add(ev("w", 2.5 * MIN, "1"), now); // watermark 10:02:30: window 10:00 closes at 10:03
    expect(s.add(ev("late-ok", 30_000, "1"), now).status).toBe("added");
    s.add(ev("w2", 3.5 * MIN, "1"), now); // watermark past 10:03
    const { finals } = s.tick(now);
    const first = finals.find((f) => f.scope === "tenant" && f.window_start.includes("10:00"));
    expect(first).toMatchObject({ final: true, events: 2, cost_usd: "2" });
    expect(s.add(ev("too-late", 40_000, "1"), now).status).toBe("late");
  });

  it("counts a redelivered event once", () => {
    const s = createWindowState({ windowMs: MIN, latenessMs: MIN });
    expect(s.add(ev("a", 1000, "1"), T0).status).toBe("added");
    expect(s.add(ev("a", 1000, "1"), T0).status).toBe("duplicate");
    expect(s.tick(T0).updates.find((u) => u.scope === "tenant")!.events).toBe(1);
  });

  it("counts two tenants' events with the same source and id as two, each in its own tenant's windows", () => {
    const s = createWindowState({ windowMs: MIN, latenessMs: MIN });
    expect(s.add(ev("same", 1000, "1", { tenant: "victim" }), T0).status).toBe("added");
    expect(s.add(ev("same", 1000, "2", { tenant: "other" }), T0).status).toBe("added");
    const tenants = s.tick(T0).updates.filter((u) => u.scope === "tenant");
    expect(tenants.map((u) => `${u.key.tenant}:${u.events}`).sort()).toEqual(["other:1", "victim:1"]);
  });

  it("closes windows by the wall clock when traffic stops, and releases waiting messages after", () => {
    const s = createWindowState({ windowMs: MIN, latenessMs: MIN });
    const r = s.add(ev("a", 1000, "1"), T0 + 1000);
    let released = 0;
    if (r.status === "added") s.whenFinal(r.start, () => released++);
    s.whenFinal(T0, () => released++); // the same windows, a second message
    expect(s.tick(T0 + 2 * MIN).finals).toHaveLength(0);
    const t = s.tick(T0 + 3 * MIN + 1);
    expect(t.finals.map((f) => f.scope).sort()).toEqual(["post", "tenant", "tenant_model", "tenant_operation", "tenant_persona"]);
    expect(released).toBe(0); // not before the finals are published
    t.release();
    expect(released).toBe(2);
    expect(s.openWindows()).toBe(0);
    s.whenFinal(T0, () => released++); // already final: at once
    expect(released).toBe(3);
  });

  it("releases a window holding more messages than a call can take as arguments", () => {
    const s = createWindowState({ windowMs: MIN, latenessMs: MIN });
    let released = 0;
    for (let i = 0; i < 300_000; i++) {
      const r = s.add(ev(`e${i}`, 1000, "0.000001"), T0 + 1000);
      if (r.status === "added") s.whenFinal(r.start, () => released++);
    }
    const t = s.tick(T0 + 3 * MIN + 1);
    expect(t.finals.find((f) => f.scope === "tenant")).toMatchObject({ events: 300_000, cost_usd: "0.3" });
    t.release();
    expect(released).toBe(300_000);
  });

  it("keeps final windows final after a restart from the checkpointed watermark", () => {
    const s = createWindowState({ windowMs: MIN, latenessMs: MIN });
    s.restore(T0 + 5 * MIN);
    expect(s.add(ev("old", 1000, "1"), T0 + 5 * MIN).status).toBe("late");
    expect(s.add(ev("new", 4.5 * MIN, "1"), T0 + 5 * MIN).status).toBe("added");
  });
});

describe("per-user windows", () => {
  it("aggregates only the users the budgets name", () => {
    const s = createWindowState({ windowMs: MIN, latenessMs: 2 * MIN, userWindows: (t, u) => t === "acme" && u === "u-7" });
    const now = T0 + MIN;
    s.add(ev("a", 1000, "0.25", { user_id: "u-7" }), now);
    s.add(ev("b", 2000, "0.5", { user_id: "u-7" }), now);
    s.add(ev("c", 3000, "1", { user_id: "u-8" }), now);
    const users = s.tick(now).updates.filter((u) => u.scope === "tenant_user");
    expect(users.map((u) => [u.key, u.cost_usd, u.events])).toEqual([[{ tenant: "acme", user_id: "u-7" }, "0.75", 2]]);
    const none = createWindowState({ windowMs: MIN, latenessMs: 2 * MIN });
    none.add(ev("d", 1000, "1", { user_id: "u-7" }), now);
    expect(none.tick(now).updates.some((u) => u.scope === "tenant_user")).toBe(false);
  });

  it("resumes from a snapshot with every window and every counted key, so a redelivered event is not counted again", () => {
    const a = createWindowState({ windowMs: MIN, latenessMs: MIN });
    const now = T0 + 30_000;
    a.add(ev("e1", 1000, "0.100000000001"), now);
    a.add(ev("e2", 2000, "0.200000000002", { model: "gpt-4o-mini" }), now);
    a.tick(now);
    const snap = JSON.parse(JSON.stringify(a.snapshot())); // as a checkpoint stores it
    const b = createWindowState({ windowMs: MIN, latenessMs: MIN });
    b.load(snap, a.takeFresh(), a.takeChanged());
    expect(b.add(ev("e2", 2000, "0.200000000002"), now).status).toBe("duplicate");
    expect(b.add(ev("e3", 3000, "0.3"), now).status).toBe("added");
    const { finals } = b.tick(T0 + 3 * MIN + 1);
    const tenant = finals.find((w) => w.scope === "tenant")!;
    expect(tenant).toMatchObject({ events: 3, cost_usd: "0.600000000003" });
    expect(tenant.by_model).toEqual({ "gpt-4o": "0.400000000001", "gpt-4o-mini": "0.200000000002" });
    expect(b.heldKeys()).toBe(0); // final windows drop their keys: memory follows the open windows
  });

  it("holds every window open while a takeover waits for its predecessor's messages, and keeps final what was final", () => {
    const a = createWindowState({ windowMs: MIN, latenessMs: MIN });
    a.add(ev("old", 0, "1"), T0);
    // The first minute's five windows (tenant, model, persona, operation, post) final.
    expect(a.tick(T0 + 3 * MIN + 1).finals).toHaveLength(5);
    a.add(ev("e1", 3 * MIN + 5000, "0.5"), T0 + 3 * MIN + 5000);
    const b = createWindowState({ windowMs: MIN, latenessMs: MIN });
    b.load(JSON.parse(JSON.stringify(a.snapshot())), a.takeFresh(), a.takeChanged());
    b.hold(true);
    // Long after the wall clock would close it, the restored window stays open while held…
    const later = T0 + 10 * MIN;
    expect(b.tick(later).finals).toHaveLength(0);
    expect(b.add(ev("e2", 3 * MIN + 6000, "0.25"), later).status).toBe("added");
    // …but the minute the predecessor published final stays final.
    expect(b.add(ev("late", 1000, "9"), later).status).toBe("late");
    b.hold(false);
    const tenant = b.tick(later).finals.find((w) => w.scope === "tenant")!;
    expect(tenant).toMatchObject({ events: 2, cost_usd: "0.75" });
  });
  it("keeps money exact past what a float holds, and through a checkpoint", () => {
    const s = createWindowState({ windowMs: MIN, latenessMs: 2 * MIN });
    // 9,000 picodollar-exact amounts just under $1,000: the window's sum passes 2^53 picodollars ($9,007).
    for (let i = 0; i < 9_000; i++) s.add(ev(`big-${i}`, 1000, "999.999999999999"), T0 + 2000);
    s.add(ev("credit", 1000, "-0.000000000001"), T0 + 2000);
    s.add(ev("small", 1000, "0.000000000003", { model: "gpt-4o-mini", post_id: "p2" }), T0 + 2000);
    const copy = createWindowState({ windowMs: MIN, latenessMs: 2 * MIN });
    copy.load(JSON.parse(JSON.stringify(s.snapshot())), s.takeFresh(), s.takeChanged());
    for (const state of [s, copy]) {
      const { finals } = state.tick(T0 + 10 * MIN);
      const tenant = finals.find((w) => w.scope === "tenant")!;
      expect(tenant.cost_usd).toBe("8999999.999999991002");
      expect(tenant.by_model).toEqual({ "gpt-4o": "8999999.999999990999", "gpt-4o-mini": "0.000000000003" });
      expect(tenant.top_posts).toEqual({ p1: "8999999.999999990999", p2: "0.000000000003" });
      expect(tenant.events).toBe(9_002);
    }
  });

  it("hands each counted key to the key log once, and names the starts still open", () => {
    const s = createWindowState({ windowMs: MIN, latenessMs: MIN });
    s.add(ev("e1", 1000, "1"), T0 + 2000);
    s.add(ev("e2", MIN + 1000, "1"), T0 + MIN + 2000);
    const first = s.takeFresh();
    expect(first.map(([start, joined]) => [start, joined.length])).toEqual([
      [T0, 16],
      [T0 + MIN, 16],
    ]);
    expect(s.takeFresh()).toEqual([]);
    s.add(ev("e1", 1000, "1"), T0 + MIN + 3000); // a duplicate adds no key
    s.add(ev("e3", 2000, "1"), T0 + MIN + 3000);
    expect(s.takeFresh().map(([start, joined]) => [start, joined.length])).toEqual([[T0, 16]]);
    expect([...s.liveStarts()]).toEqual([T0, T0 + MIN]);
    s.tick(T0 + 3 * MIN + 1); // the first minute final by the wall clock
    expect([...s.liveStarts()]).toEqual([T0 + MIN]);
  });

  it("resumes from a first-format checkpoint, whose keys it holds inline, and logs those keys at the next checkpoint", () => {
    const a = createWindowState({ windowMs: MIN, latenessMs: MIN });
    a.add(ev("e1", 1000, "1"), T0 + 2000);
    a.add(ev("e2", 2000, "2"), T0 + 2000);
    const v3 = a.snapshot();
    const keys = a.takeFresh();
    const windows = a.takeChanged().flatMap(([, json]) => JSON.parse(json) as WindowSnapshotV2["windows"]);
    const v1 = {
      v: 1 as const,
      watermark: v3.watermark,
      closed: v3.closed,
      windows,
      starts: keys.map(([start, joined]) => [start, joined] as [number, string]),
    };
    const b = createWindowState({ windowMs: MIN, latenessMs: MIN });
    b.load(JSON.parse(JSON.stringify(v1)));
    expect(b.add(ev("e1", 1000, "1"), T0 + 3000).status).toBe("duplicate");
    expect(b.takeFresh()).toEqual(keys);
    expect(b.tick(T0 + 3 * MIN).finals.find((w) => w.scope === "tenant")).toMatchObject({ events: 2, cost_usd: "3" });
  });

  it("hands over the windows of the starts that changed since the last checkpoint, and only those", () => {
    const s = createWindowState({ windowMs: MIN, latenessMs: 2 * MIN });
    s.add(ev("e1", 1000, "1"), T0 + MIN + 2000);
    s.add(ev("e2", MIN + 1000, "2"), T0 + MIN + 2000);
    const startsOf = (list: readonly (readonly [number, string])[]) => list.map(([start]) => start);
    const first = s.takeChanged();
    expect(startsOf(first)).toEqual([T0, T0 + MIN]);
    // Each start's text holds all its windows (tenant, model, persona, operation, post), and only its own.
    const [, json] = first.find(([start]) => start === T0)!;
    const windows = JSON.parse(json) as WindowSnapshotV2["windows"];
    expect(windows.map((w) => w.scope).sort()).toEqual(["post", "tenant", "tenant_model", "tenant_operation", "tenant_persona"]);
    expect(new Set(windows.map((w) => w.start))).toEqual(new Set([T0]));
    expect(s.takeChanged()).toEqual([]);
    // A new event of the second minute changes that start alone; a duplicate or a late event changes nothing.
    s.add(ev("e3", MIN + 3000, "3"), T0 + MIN + 4000);
    s.add(ev("e1", 1000, "1"), T0 + MIN + 4000);
    expect(startsOf(s.takeChanged())).toEqual([T0 + MIN]);
    s.tick(T0 + 4 * MIN + 1); // the first minute final
    expect(s.add(ev("late", 1000, "1"), T0 + 4 * MIN + 2).status).toBe("late");
    expect(s.takeChanged()).toEqual([]);
  });

  it("resumes from a second-format checkpoint, whose windows it holds inline, and writes them as sections at the next checkpoint", () => {
    const a = createWindowState({ windowMs: MIN, latenessMs: MIN });
    a.add(ev("e1", 1000, "1"), T0 + 2000);
    a.add(ev("e2", MIN + 1000, "2"), T0 + MIN + 2000);
    const v3 = a.snapshot();
    const keys = a.takeFresh();
    const sections = a.takeChanged();
    const v2: WindowSnapshotV2 = { ...v3, v: 2, windows: sections.flatMap(([, json]) => JSON.parse(json) as WindowSnapshotV2["windows"]) };
    const b = createWindowState({ windowMs: MIN, latenessMs: MIN });
    b.load(JSON.parse(JSON.stringify(v2)), keys);
    expect(b.takeChanged()).toEqual(sections);
    expect(b.add(ev("e2", MIN + 1000, "2"), T0 + MIN + 3000).status).toBe("duplicate");
  });
});
