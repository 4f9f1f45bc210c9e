// Budget periods in a time zone and the rolling 30 days, and the budget
// tracker: scopes, open and final windows, exact sums, re-arming, seeding.
import { tenantWindow } from "../helpers/windows.ts";
import { describe, expect, it } from "vitest";
import { periodOf } from "../../pipeline/budgets/budget-period.ts";
import { createBudgetTracker } from "../../pipeline/budgets/budget-tracker.ts";
import { budgetSchema, isTimeZone, type BudgetInput } from "../../schemas/index.ts";

const span = (p: { start: Date; end: Date }) => [p.start.toISOString(), p.end.toISOString()];

describe("budget periods", () => {
  it("follows the calendar of the budget's time zone", () => {
    // 03:00 UTC is still the 22nd in New York (UTC−5 in November).
    expect(span(periodOf("daily", "America/New_York", new Date("2026-11-23T03:00:00Z")))).toEqual([
      "2026-11-22T05:00:00.000Z",
      "2026-11-23T05:00:00.000Z",
    ]);
    // Weeks start on Monday; India is UTC+5:30, so the boundary is not on an hour in UTC.
    expect(span(periodOf("weekly", "Asia/Kolkata", new Date("2026-11-25T12:00:00Z")))).toEqual([
      "2026-11-22T18:30:00.000Z",
      "2026-11-29T18:30:00.000Z",
    ]);
    expect(span(periodOf("monthly", "UTC", new Date("2026-11-30T23:59:59Z")))).toEqual([
      "2026-11-01T00:00:00.000Z",
      "2026-12-01T00:00:00.000Z",
    ]);
  });

  it("keeps days and months whole across a daylight-saving change", () => {
    // Berlin moves to summer time on 2026-03-29: that day has 23 hours, March starts at UTC+1 and ends at UTC+2.
    const day = periodOf("daily", "Europe/Berlin", new Date("2026-03-29T12:00:00Z"));
    expect(span(day)).toEqual(["2026-03-28T23:00:00.000Z", "2026-03-29T22:00:00.000Z"]);
    expect(span(periodOf("monthly", "Europe/Berlin", new Date("2026-03-30T12:00:00Z")))).toEqual([
      "2026-02-28T23:00:00.000Z",
      "2026-03-31T22:00:00.000Z",
    ]);
  });

  it("rolls 30 days back from the moment asked", () => {
    expect(span(periodOf("rolling_30d", "UTC", new Date("2026-11-23T10:00:00Z")))).toEqual([
      "2026-10-24T10:00:00.000Z",
      "2026-11-23T10:00:00.000Z",
    ]);
  });
});

const win = tenantWindow;

function tracker(...budgets: BudgetInput[]) {
  const t = createBudgetTracker();
  for (const b of budgets) t.set(budgetSchema.parse(b));
  return t;
}

const messages = (fs: { finding: { message: string } }[]) => fs.map((f) => f.finding.message);

describe("budget tracker", () => {
  it("adds money exactly: 0.7 + 0.1 + 0.1 + 0.1 is 100 % of 1", () => {
    const t = tracker({ scope: { tenant: "acme" }, period: "monthly", amount_usd: "1", thresholds: [1] });
    const found = ["0.7", "0.1", "0.1", "0.1"].flatMap((cost, i) => t.add(win({ start: `2026-11-10T10:0${i}:00Z`, cost })));
    expect(messages(found)).toEqual(["100 % of the monthly budget for tenant acme spent ($1.00 of $1.00)"]);
    expect(found[0]!.budget).toMatchObject({ key: "acme.tenant.monthly", spend_usd: "1", resets_at: "2026-12-01T00:00:00.000Z" });
    expect(t.spend("acme.tenant.monthly")).toBe("1");
  });

  it("counts every still-open window, each at its latest aggregate, and a final one once", () => {
    const t = tracker({ scope: { tenant: "acme" }, period: "daily", amount_usd: "1", thresholds: [0.5, 1] });
    expect(messages(t.add(win({ start: "2026-11-10T10:00:00Z", cost: "0.3", final: false })))).toEqual([]);
    expect(messages(t.add(win({ start: "2026-11-10T10:00:00Z", cost: "0.4", final: false })))).toEqual([]); // replaces 0.3
    expect(t.spend("acme.tenant.daily")).toBe("0.4");
    // A second window opens while the first is still open: both count.
    expect(messages(t.add(win({ start: "2026-11-10T10:01:00Z", cost: "0.6", final: false })))).toEqual([
      "100 % of the daily budget for tenant acme spent ($1.00 of $1.00)",
    ]);
    t.add(win({ start: "2026-11-10T10:00:00Z", cost: "0.4", final: true }));
    t.add(win({ start: "2026-11-10T10:00:00Z", cost: "0.4", final: true })); // redelivered
    t.add(win({ start: "2026-11-10T10:00:00Z", cost: "0.4", final: false })); // a stale aggregate after the final one
    expect(t.spend("acme.tenant.daily")).toBe("1");
  });

  it("matches each budget to its own scope's windows: persona, feature, user, model (all providers)", () => {
    const t = tracker(
      { scope: { tenant: "acme", persona_id: "p1" }, period: "daily", amount_usd: "1", thresholds: [1] },
      { scope: { tenant: "acme", feature: "hooks" }, period: "daily", amount_usd: "1", thresholds: [1] },
      { scope: { tenant: "acme", user_id: "u7" }, period: "daily", amount_usd: "1", thresholds: [1] },
      { scope: { tenant: "acme", model: "gpt-4o" }, period: "daily", amount_usd: "1", thresholds: [1] },
    );
    const at = "2026-11-10T10:00:00Z";
    t.add(win({ start: at, cost: "5", scope: "tenant" }));
    t.add(win({ start: at, cost: "5", scope: "tenant_persona", key: { tenant: "acme", persona_id: "p2" } }));
    t.add(win({ start: at, cost: "0.25", scope: "tenant_persona", key: { tenant: "acme", persona_id: "p1" } }));
    t.add(win({ start: at, cost: "0.5", scope: "tenant_feature", key: { tenant: "acme", feature: "hooks" } }));
    t.add(win({ start: at, cost: "0.75", scope: "tenant_user", key: { tenant: "acme", user_id: "u7" } }));
    t.add(win({ start: at, cost: "0.5", scope: "tenant_model", key: { tenant: "acme", provider: "openai", model: "gpt-4o" } }));
    const found = t.add(
      win({ start: at, cost: "0.5", scope: "tenant_model", key: { tenant: "acme", provider: "azure", model: "gpt-4o" } }),
    );
    expect(messages(found)).toEqual(["100 % of the daily budget for model gpt-4o of acme spent ($1.00 of $1.00)"]);
    expect(found[0]!.budget.scope).toEqual({ tenant: "acme", model: "gpt-4o" });
    expect([t.spend("acme.persona.p1.daily"), t.spend("acme.feature.hooks.daily"), t.spend("acme.user.u7.daily")]).toEqual([
      "0.25",
      "0.5",
      "0.75",
    ]);
    expect(t.add(win({ start: at, cost: "1", scope: "tenant", tenant: "globex", key: { tenant: "globex" } }))).toEqual([]);
  });

  it("fires each threshold once a period and again in the next period of its time zone", () => {
    const t = tracker({
      scope: { tenant: "acme" },
      period: "daily",
      timezone: "Europe/Berlin",
      amount_usd: "10",
      thresholds: [0.5, 0.75, 0.9, 1],
    });
    const add = (start: string, cost: string) => messages(t.add(win({ start, cost })));
    expect(add("2026-11-10T10:00:00Z", "6")).toEqual(["60 % of the daily (Europe/Berlin) budget for tenant acme spent ($6.00 of $10.00)"]);
    expect(add("2026-11-10T11:00:00Z", "3")).toEqual(["90 % of the daily (Europe/Berlin) budget for tenant acme spent ($9.00 of $10.00)"]);
    expect(add("2026-11-10T12:00:00Z", "0.1")).toEqual([]);
    // 23:30 UTC is already the 11th in Berlin: a new period, thresholds armed again.
    expect(add("2026-11-10T23:30:00Z", "5")).toEqual(["50 % of the daily (Europe/Berlin) budget for tenant acme spent ($5.00 of $10.00)"]);
    // A late final window of the 10th no longer counts in the 11th.
    expect(add("2026-11-10T15:00:00Z", "9")).toEqual([]);
    expect(t.spend("acme.tenant.daily")).toBe("5");
  });

  it("rolls 30 days: resumes when enough old spend has left, and fires again if it comes back", () => {
    const t = tracker({
      scope: { tenant: "acme", persona_id: "p1" },
      period: "rolling_30d",
      amount_usd: "10",
      thresholds: [1],
      hard: true,
    });
    const add = (start: string, cost: string) =>
      t.add(win({ start, cost, scope: "tenant_persona", key: { tenant: "acme", persona_id: "p1" } }));
    add("2026-11-01T10:00:00Z", "6");
    add("2026-11-05T10:00:00Z", "3");
    const [hit] = add("2026-11-20T10:00:00Z", "2");
    expect(hit!.finding.message).toBe("110 % of the rolling 30-day budget for persona p1 of acme spent ($11.00 of $10.00)");
    // Without the 6 spent on 1 November (its 15-minute bucket leaves on 1 December 10:15) it is back at 5.
    expect(hit!.budget).toMatchObject({ hard: true, resets_at: "2026-12-01T10:15:00.000Z" });
    expect(add("2026-12-02T10:00:00Z", "1")).toEqual([]);
    expect(t.spend("acme.persona.p1.rolling_30d")).toBe("6");
    expect(messages(add("2026-12-03T10:00:00Z", "4"))).toEqual([
      "100 % of the rolling 30-day budget for persona p1 of acme spent ($10.00 of $10.00)",
    ]);
  });

  it("starts from the ledger's spend and counts only windows from its cutoff on", () => {
    const t = createBudgetTracker();
    const b = budgetSchema.parse({ scope: { tenant: "acme" }, period: "monthly", amount_usd: "10", thresholds: [1] });
    t.set(b, undefined, Date.parse("2026-11-10T10:05:00Z"));
    t.seed("acme.tenant.monthly", [
      { bucket: new Date("2026-11-02T00:00:00Z"), spend: "4.5" },
      { bucket: new Date("2026-11-10T10:00:00Z"), spend: "4" },
    ]);
    expect(t.add(win({ start: "2026-11-10T10:04:00Z", cost: "3" }))).toEqual([]); // before the cutoff: already in the seed
    expect(messages(t.add(win({ start: "2026-11-10T10:05:00Z", cost: "1.5" })))).toEqual([
      "100 % of the monthly budget for tenant acme spent ($10.00 of $10.00)",
    ]);
  });

  it("after a restart, stays quiet on thresholds already alerted this period and fires the next one", () => {
    const restart = () => {
      const t = createBudgetTracker();
      t.set(
        budgetSchema.parse({ scope: { tenant: "acme" }, period: "monthly", amount_usd: "10" }),
        undefined,
        Date.parse("2026-11-10T10:05:00Z"),
      );
      t.seed("acme.tenant.monthly", [{ bucket: new Date("2026-11-02T00:00:00Z"), spend: "8" }]);
      return t;
    };
    const at = new Date("2026-11-10T10:05:00Z");
    // The series name the period and the threshold: alerts of this period match them, last month's do not.
    const series = restart().thresholdSeries("acme.tenant.monthly", at);
    expect(series.map((s) => s.threshold)).toEqual([0.5, 0.75, 0.9, 1]);
    expect(series[0]!.series).toBe("budget:acme.tenant.monthly:2026-11-01T00:00:00.000Z:0.5");
    expect(restart().thresholdSeries("acme.tenant.monthly", new Date("2026-12-01T00:00:00Z"))[0]!.series).toContain(
      "2026-12-01T00:00:00.000Z",
    );

    // Without what it raised before, the seeded 80 % would be alerted again on the next window.
    expect(messages(restart().add(win({ start: "2026-11-10T10:05:00Z", cost: "0.1" })))).toEqual([
      "81 % of the monthly budget for tenant acme spent ($8.10 of $10.00)",
    ]);
    const t = restart();
    t.restoreCrossed("acme.tenant.monthly", [0.75], at); // the alert at 75 % passed 50 % too
    expect(t.add(win({ start: "2026-11-10T10:05:00Z", cost: "0.1" }))).toEqual([]);
    expect(messages(t.add(win({ start: "2026-11-10T10:06:00Z", cost: "1" })))).toEqual([
      "91 % of the monthly budget for tenant acme spent ($9.10 of $10.00)",
    ]);
  });
});

describe("a budget's time zone", () => {
  it("takes IANA names and UTC, the same on every later check, and refuses anything else", () => {
    for (let i = 0; i < 2; i++) {
      expect([isTimeZone("Europe/Berlin"), isTimeZone("UTC"), isTimeZone("America/Argentina/Buenos_Aires")]).toEqual([true, true, true]);
      expect([isTimeZone("Europe/Nowhere"), isTimeZone(""), isTimeZone("'; DROP TABLE x")]).toEqual([false, false, false]);
    }
    const base = { scope: { tenant: "t" }, period: "monthly", amount_usd: "10" };
    expect(budgetSchema.safeParse({ ...base, timezone: "Asia/Tokyo" }).success).toBe(true);
    expect(budgetSchema.safeParse({ ...base, timezone: "Mars/Olympus" }).error?.issues[0]?.message).toMatch(/IANA time zone/);
  });
});
