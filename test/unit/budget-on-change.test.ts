// A budget evaluated the moment it is set (no window needed), and the pure
// changes of a reservation counter: reserve within the limit, expiry, settle,
// and the ledger sync that counts a settled cost once.
import { describe, expect, it } from "vitest";
import { createBudgetTracker } from "../../pipeline/budgets/budget-tracker.ts";
import { counterUsage, emptyCounter } from "../../pipeline/budgets/reservation-counter.ts";
import { counterKey, releaseOp, reserveOp, settleOp, syncOp } from "../../pipeline/budgets/reservation-ops.ts";
import { budgetSchema, type WindowAggregate } from "../../schemas/index.ts";
import { fromPico, toPico } from "../../pipeline/pricing/decimal.ts";

describe("a budget evaluated when it is set", () => {
  const at = new Date("2026-11-10T10:05:30Z");
  const cutoff = Date.parse("2026-11-10T10:05:00Z");

  it("alerts the highest threshold the seeded spend has crossed, once", () => {
    const t = createBudgetTracker();
    t.set(
      budgetSchema.parse({ scope: { tenant: "acme", persona_id: "p" }, period: "monthly", amount_usd: "10" }),
      "acme.persona.p.monthly",
      cutoff,
    );
    t.seed("acme.persona.p.monthly", [{ bucket: new Date("2026-11-02T00:00:00Z"), spend: "27.6" }]);
    const first = t.evaluateNow("acme.persona.p.monthly", at);
    expect(first.map((f) => [f.finding.severity, f.finding.message])).toEqual([
      ["critical", "276 % of the monthly budget for persona p of acme spent ($27.60 of $10.00)"],
    ]);
    expect(t.evaluateNow("acme.persona.p.monthly", at)).toEqual([]);
  });

  it("counts the open window's ledger spend, but not on top of windows that already brought it", () => {
    const t = createBudgetTracker();
    t.set(
      budgetSchema.parse({ scope: { tenant: "acme" }, period: "monthly", amount_usd: "10", thresholds: [0.5, 1] }),
      "acme.tenant.monthly",
      cutoff,
    );
    t.seed("acme.tenant.monthly", [{ bucket: new Date("2026-11-02T00:00:00Z"), spend: "4" }]);
    // The open window (from the cutoff) holds $2 in the ledger and has already reached the tracker.
    const w: WindowAggregate = {
      scope: "tenant",
      key: { tenant: "acme" },
      tenant: "acme",
      events: 1,
      unpriced_events: 0,
      cost_usd: "2",
      revenue_usd: "0",
      input_tokens: 0,
      output_tokens: 0,
      requests: 1,
      by_model: {},
      by_operation: {},
      top_posts: {},
      top_users: {},
      final: false,
      window_start: "2026-11-10T10:05:00.000Z",
      window_end: "2026-11-10T10:06:00.000Z",
      emitted_at: at.toISOString(),
    };
    expect(t.add(w).map((f) => f.finding.message)).toEqual(["60 % of the monthly budget for tenant acme spent ($6.00 of $10.00)"]);
    // $6, not $8: the window and the ledger's look-ahead are the same money.
    expect(t.evaluateNow("acme.tenant.monthly", at, "2")).toEqual([]);
    expect(t.evaluateNow("acme.tenant.monthly", at, "6").map((f) => f.finding.message)).toEqual([
      "100 % of the monthly budget for tenant acme spent ($10.00 of $10.00)",
    ]);
  });
});

describe("reservation counter changes", () => {
  const now = 1_000_000;
  const synced = () => {
    const c = emptyCounter("acme.tenant.monthly", "2026-11-01T00:00:00.000Z");
    syncOp(toPico("0.9"), new Set(), 60_000, now)(c, now);
    return c;
  };

  it("holds only what fits under the limit, exactly", () => {
    const c = synced();
    const limit = toPico("1");
    const results = Array.from({ length: 4 }, (_, i) => reserveOp(`r${i}`, toPico("0.03"), limit, 1000, true)(c, now));
    expect(results.map((r) => r.ok)).toEqual([true, true, true, false]);
    expect(reserveOp("r9", toPico("0.01"), limit, 1000, true)(c, now)).toEqual({ ok: true });
    expect(fromPico(counterUsage(c, now).reserved)).toBe("0.1");
  });

  it("drops expired holds, and denies a counter the ledger was never read into", () => {
    const c = synced();
    reserveOp("a", toPico("0.1"), toPico("1"), 1000, true)(c, now);
    expect(reserveOp("b", toPico("0.1"), toPico("1"), 1000, true)(c, now + 999).ok).toBe(false);
    expect(reserveOp("b", toPico("0.1"), toPico("1"), 1000, true)(c, now + 1000).ok).toBe(true);
    expect(Object.keys(c.holds)).toEqual(["b"]);
    const fresh = emptyCounter("x", "2026-11-01T00:00:00.000Z");
    expect(reserveOp("a", 1n, toPico("1"), 1000, true)(fresh, now)).toMatchObject({ ok: false, reason: "not_synced" });
  });

  it("settles the actual cost, releases, and lets the sync count a settled cost once", () => {
    const c = synced();
    reserveOp("a", toPico("0.05"), toPico("1"), 60_000, true)(c, now);
    reserveOp("b", toPico("0.05"), toPico("1"), 60_000, true)(c, now);
    settleOp("a", "ev-a", toPico("0.02"))(c, now + 1);
    releaseOp("b")(c, now + 1);
    expect(counterUsage(c, now + 2)).toEqual({ ledger: toPico("0.9"), settled: toPico("0.02"), reserved: 0n });
    syncOp(toPico("0.92"), new Set(["ev-a"]), 60_000, now + 5)(c, now + 5);
    expect(counterUsage(c, now + 5)).toEqual({ ledger: toPico("0.92"), settled: 0n, reserved: 0n });
  });

  it("keys a counter by budget and period; a rolling budget has one", () => {
    const b = budgetSchema.parse({ scope: { tenant: "acme" }, period: "daily", timezone: "Europe/Berlin", amount_usd: "1" });
    expect(counterKey("acme.tenant.daily", b, new Date("2026-11-10T23:30:00Z")).key).toBe(
      `acme.tenant.daily.p${Date.parse("2026-11-10T23:00:00Z")}`,
    );
    expect(counterKey("acme.tenant.rolling_30d", { ...b, period: "rolling_30d" }, new Date()).key).toBe("acme.tenant.rolling_30d.rolling");
  });
});
