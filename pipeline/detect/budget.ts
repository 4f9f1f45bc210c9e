// Budgets in the detector: spend to date in the budget's period against its
// amount, alerting as thresholds are crossed, and a forecast of the period's
// end spend (a least-squares line through the cumulative spend) that warns
// "projected to exceed on <date>" before it happens.
import { linearFit } from "./robust.ts";
import type { Finding } from "./detectors.ts";

export interface Budget {
  tenant: string;
  period: "daily" | "weekly" | "monthly";
  amountUsd: number;
  thresholds: number[];
  /** A hard budget pauses the tenant at 100 % (see guard/escalation.ts). */
  hard?: boolean;
}

/** Start and end of the UTC period holding `t`. */
export function periodOf(period: Budget["period"], t: Date): { start: Date; end: Date } {
  const y = t.getUTCFullYear();
  const m = t.getUTCMonth();
  const d = t.getUTCDate();
  if (period === "daily") return { start: new Date(Date.UTC(y, m, d)), end: new Date(Date.UTC(y, m, d + 1)) };
  if (period === "weekly") {
    const monday = d - ((t.getUTCDay() + 6) % 7);
    return { start: new Date(Date.UTC(y, m, monday)), end: new Date(Date.UTC(y, m, monday + 7)) };
  }
  return { start: new Date(Date.UTC(y, m, 1)), end: new Date(Date.UTC(y, m + 1, 1)) };
}

interface State {
  periodStart: number;
  spend: number;
  crossed: Set<number>;
  curve: [number, number][];
  forecastWarned: boolean;
}

export function createBudgetTracker() {
  const budgets = new Map<string, Budget>();
  const states = new Map<string, State>();

  return {
    set(b: Budget) {
      budgets.set(b.tenant, { ...b, thresholds: [...b.thresholds].sort((x, y) => x - y) });
    },
    remove(tenant: string) {
      budgets.delete(tenant);
      states.delete(tenant);
    },
    has: (tenant: string) => budgets.has(tenant),
    get: (tenant: string): Budget | undefined => budgets.get(tenant),
    /** Spend already in the ledger for this period (warm start). */
    seed(tenant: string, at: Date, spend: number) {
      const b = budgets.get(tenant);
      if (!b) return;
      const { start } = periodOf(b.period, at);
      states.set(tenant, { periodStart: start.getTime(), spend, crossed: new Set(), curve: [[at.getTime(), spend]], forecastWarned: false });
    },

    /**
     * Adds a window's spend: a final window's for good, an open window's only
     * to look ahead (so a budget crossing is seen before its window closes).
     * Returns the budget findings it causes; each threshold fires once a period.
     */
    add(tenant: string, windowEnd: Date, cost: number, final = true): Finding[] {
      const b = budgets.get(tenant);
      if (!b) return [];
      const { start, end } = periodOf(b.period, new Date(windowEnd.getTime() - 1));
      let s = states.get(tenant);
      if (!s || s.periodStart !== start.getTime()) {
        s = { periodStart: start.getTime(), spend: 0, crossed: new Set(), curve: [], forecastWarned: false };
        states.set(tenant, s);
      }
      const spend = s.spend + cost;
      if (final) {
        s.spend = spend;
        s.curve.push([windowEnd.getTime(), s.spend]);
      }
      const findings: Finding[] = [];
      const used = spend / b.amountUsd;
      const newly = b.thresholds.filter((th) => used >= th && !s.crossed.has(th));
      if (newly.length) {
        const th = newly[newly.length - 1]!;
        for (const t of newly) s.crossed.add(t);
        findings.push({
          type: "budget",
          severity: th >= 1 ? "critical" : th >= 0.9 ? "high" : "medium",
          observed: spend.toFixed(6),
          expected: b.amountUsd.toFixed(2),
          multiplier: Number(used.toFixed(3)),
          score: null,
          message: `${Math.round(used * 100)} % of the ${b.period} budget spent ($${spend.toFixed(2)} of $${b.amountUsd.toFixed(2)})`,
        });
      }
      if (final && !s.forecastWarned && used < 1 && s.curve.length >= 6) {
        const fit = linearFit(s.curve.slice(-48));
        const projected = fit.a + fit.b * end.getTime();
        if (fit.b > 0 && projected > b.amountUsd) {
          s.forecastWarned = true;
          const when = new Date((b.amountUsd - fit.a) / fit.b);
          findings.push({
            type: "budget_forecast",
            severity: "medium",
            observed: projected.toFixed(2),
            expected: b.amountUsd.toFixed(2),
            multiplier: Number((projected / b.amountUsd).toFixed(3)),
            score: null,
            message: `projected to exceed the ${b.period} budget on ${when.toISOString().slice(0, 16).replace("T", " ")} UTC ($${projected.toFixed(2)} by period end vs $${b.amountUsd.toFixed(2)})`,
          });
        }
      }
      return findings;
    },
  };
}
export type BudgetTracker = ReturnType<typeof createBudgetTracker>;
