// The console's pure parts: sessions (expiry, bound size, CSRF check), safe
// redirects, the alerts query's parsing and likely cause, and demo traffic
// that obeys the guard's decisions.
import { describe, expect, it } from "vitest";
import { createSessionStore, csrfMatches } from "../../pipeline/console/session.ts";
import { localPath } from "../../pipeline/console/console-auth.ts";
import { alertsQuerySchema, likelyCause, MAX_ALERTS_PAGE } from "../../pipeline/queries/alerts-query.ts";
import { demoEvent, guardDemoEvent, newDemoStats, seededRandom } from "../../pipeline/demo/traffic.ts";
import { chartData } from "../../pipeline/console/pages/explorer.tsx";
import { projectMonthEnd } from "../../pipeline/console/console-data.ts";
import { utcFromInput } from "../../pipeline/console/format.ts";
import { costsQuerySchema } from "../../pipeline/queries/costs-query.ts";
import type { CheckRequest, Decision } from "../../pipeline/guard/decide.ts";

describe("console sessions", () => {
  it("end after the idle time and at the absolute lifetime, and keep the key on the server", () => {
    let t = 0;
    const store = createSessionStore({ idleMs: 1000, lifetimeMs: 5000, now: () => t });
    const s = store.open("cl_key");
    expect(s.id).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(s.id).not.toContain("cl_key");
    t = 900;
    expect(store.get(s.id)?.key).toBe("cl_key");
    t = 1800; // idle clock restarted at 900
    expect(store.get(s.id)).toBeDefined();
    t = 2900;
    expect(store.get(s.id)).toBeUndefined();
    const long = store.open("k");
    for (t = 3000; t < 8000; t += 500) expect(store.get(long.id)).toBeDefined();
    t = 8500;
    expect(store.get(long.id)).toBeUndefined();
  });

  it("stay bounded: the oldest session goes first", () => {
    const store = createSessionStore({ maxSessions: 3 });
    const ids = Array.from({ length: 5 }, (_, i) => store.open(`k${i}`).id);
    expect(store.size()).toBe(3);
    expect(store.get(ids[0])).toBeUndefined();
    expect(store.get(ids[4])?.key).toBe("k4");
  });

  it("check the CSRF token exactly", () => {
    const s = createSessionStore().open("k");
    expect(csrfMatches(s, s.csrf)).toBe(true);
    expect(csrfMatches(s, `${s.csrf}x`)).toBe(false);
    expect(csrfMatches(s, undefined)).toBe(false);
    expect(csrfMatches(s, "")).toBe(false);
  });

  it("redirect only to a path of this site", () => {
    expect(localPath("/explorer?x=1")).toBe("/explorer?x=1");
    for (const bad of ["//evil.example", "/\\evil.example", "https://evil.example/", "javascript:alert(1)", "/a b", undefined, 42])
      expect(localPath(bad)).toBe("/");
  });
});

describe("the alerts query", () => {
  it("takes comma-separated or repeated lists, bounds the page and refuses unknown values", () => {
    const q = alertsQuerySchema.parse({ severity: ["high,critical", "medium"], type: "spike", state: "firing" });
    expect(q).toMatchObject({ severity: ["high", "critical", "medium"], type: ["spike"], state: "firing", limit: 100, offset: 0 });
    expect(alertsQuerySchema.safeParse({ limit: String(MAX_ALERTS_PAGE + 1) }).success).toBe(false);
    expect(alertsQuerySchema.safeParse({ severity: "urgent" }).success).toBe(false);
    expect(alertsQuerySchema.safeParse({ state: "open" }).success).toBe(false);
    expect(alertsQuerySchema.safeParse({ from: "yesterday" }).success).toBe(false);
  });

  it("names the contributor with the largest share as the likely cause", () => {
    const evidence = {
      by_model: [{ key: "gpt-4o", cost_usd: "1.2", share: 0.6 }],
      by_post: [{ key: "p-9", cost_usd: "1.6", share: 0.8 }],
      by_user: [],
    };
    expect(likelyCause({ evidence })).toEqual({ dimension: "post", key: "p-9", share: 0.8, cost_usd: "1.6" });
    expect(likelyCause({ evidence: {} })).toBeUndefined();
  });
});

describe("demo traffic through the guard", () => {
  const decide = (f: (r: CheckRequest) => Partial<Decision>) => ({
    check: (r: CheckRequest): Decision => ({ allow: true, model: r.model, waitMs: 0, reason: "", state: "closed", stale: false, ...f(r) }),
  });
  const llmEvents = () => {
    const r = seededRandom(7);
    return Array.from({ length: 400 }, () => demoEvent(r, new Date())).filter((e) => e.type === "costline.llm.usage");
  };

  it("does not make a paused persona's calls", () => {
    const stats = newDemoStats();
    const guard = decide((r) => (r.persona === "chef_mario" ? { allow: false, state: "open" } : {}));
    const events = llmEvents();
    const sent = events.map((e) => guardDemoEvent(guard, e, stats)).filter((e) => e !== undefined);
    const paused = events.filter((e) => (e.data as { persona_id?: string }).persona_id === "chef_mario").length;
    expect(paused).toBeGreaterThan(0);
    expect(sent.some((e) => (e.data as { persona_id?: string }).persona_id === "chef_mario")).toBe(false);
    expect(stats).toEqual({ sent: events.length - paused, denied: paused, downgraded: 0 });
  });

  it("uses the guard's cheaper model when degraded, and asks with the call's scope and size", () => {
    const asked: CheckRequest[] = [];
    const guard = decide((r) => {
      asked.push(r);
      return r.model.startsWith("gpt-4o-2024") ? { model: "gpt-4o-mini", state: "degraded" } : {};
    });
    const stats = newDemoStats();
    const sent = llmEvents().map((e) => guardDemoEvent(guard, e, stats)!);
    expect(sent.some((e) => (e.data as { model: string }).model.startsWith("gpt-4o-2024"))).toBe(false);
    expect(stats.downgraded).toBeGreaterThan(0);
    expect(asked[0]).toMatchObject({
      tenant: expect.any(String),
      persona: expect.any(String),
      feature: expect.any(String),
      user: expect.any(String),
    });
    expect(asked[0]!.estimatedTokens).toBeGreaterThan(0);
  });
});

describe("console figures", () => {
  it("projects the month's end at the month's rate so far, exactly", () => {
    expect(projectMonthEnd("10", new Date("2026-11-16T00:00:00Z"))).toBe("20"); // 15 of 30 days
    expect(projectMonthEnd("0", new Date("2026-11-16T00:00:00Z"))).toBe("0");
  });

  it("charts every bucket of the range, empty ones as zero, the charted groups in order and the folded rest as other", () => {
    const charted = ["g0", "g1", "g2", "g3", "g4", "g5", "g6", "g7"];
    const points = [
      ...charted.map((g, i) => ({ bucket: "2026-11-20 10:00:00", group: g, other: false, cost_usd: String(10 - i) })),
      { bucket: "2026-11-20 10:00:00", group: "", other: true, cost_usd: "3" }, // what the query folded: g8 (2) + g9 (1)
      { bucket: "2026-11-20 11:00:00", group: "g1", other: false, cost_usd: "0.5" },
    ];
    const d = chartData(points, charted, { from: "2026-11-20T08:00", to: "2026-11-20T12:00", granularity: "hour" });
    expect(d.x).toHaveLength(4);
    expect(d.labels).toEqual([...charted, "other"]);
    expect(d.series[1]).toEqual([0, 0, 9, 0.5]);
    expect(d.series.at(-1)).toEqual([0, 0, 3, 0]);
    // Without folded points there is no "other"; an empty group value is labelled.
    expect(chartData([{ bucket: "2026-11-20 10:00:00", group: "", other: false, cost_usd: "1" }], [""]).labels).toEqual(["(none)"]);
  });

  it("reads the explorer's time inputs as ISO UTC with seconds, on the hour too (a minute of :00 was refused)", () => {
    expect(utcFromInput("2026-12-01T16:00")).toBe("2026-12-01T16:00:00Z");
    expect(utcFromInput("2026-12-01T16:07")).toBe("2026-12-01T16:07:00Z");
    expect(utcFromInput("2026-12-01T16:07:30")).toBe("2026-12-01T16:07:30Z");
    expect(utcFromInput("2026-12-01T16:00:00Z")).toBe("2026-12-01T16:00:00Z");
    expect(utcFromInput("yesterday")).toBe("yesterday");
    for (const from of ["2026-12-01T16:00", "2026-12-01T16:59", "2026-12-01T00:00"])
      expect(
        costsQuerySchema.safeParse({ from: utcFromInput(from), to: utcFromInput("2026-12-02T16:01"), granularity: "hour" }).success,
      ).toBe(true);
  });
});
