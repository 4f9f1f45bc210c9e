// Budgets in the detector: each budget's spend in its period, kept from the
// windows of its scope (tenant, persona, feature, user or model), alerting as
// thresholds are crossed, with a least-squares forecast of a calendar
// period's end spend ("projected to exceed on <date>") before it happens.
//
// Spend is exact (integer picodollars) and kept in 15-minute buckets, fine
// enough for any time zone's period boundary and small enough for 30 days.
// Final windows are committed; open windows count on top (the latest
// aggregate of each), so a crossing is seen before its window closes, and two
// or more still-open windows all count. Spend already in the ledger when a
// budget is loaded comes in through `seed`, for windows starting before its
// cutoff; later windows are counted from the stream.
import type { AlertBudget, BudgetRecord, ControlScope, WindowAggregate } from "../../schemas/index.ts";
import { fromPico, toPico } from "../pricing/decimal.ts";
import { linearFit } from "../findings/linear-fit.ts";
import type { Finding } from "../findings/finding.ts";
import { periodLabel, periodOf, ROLLING_MS } from "./budget-period.ts";
import { budgetKvKey, scopeLabel } from "./budget-key.ts";

export const BUCKET_MS = 15 * 60_000;

export interface Budget extends BudgetRecord {
  key: string;
}

export interface BudgetFinding {
  finding: Finding;
  budget: AlertBudget;
  /** Distinguishes the crossings of one budget (threshold and period), for alert fingerprints. */
  series: string;
}

interface State {
  committed: Map<number, bigint>;
  committedTotal: bigint;
  open: Map<string, { bucket: number; cost: bigint }>;
  lastFinal: Map<string, number>;
  cutoff: number;
  /** The spend `seed` brought in from the ledger (before the cutoff). */
  seeded: bigint;
  periodStart: number;
  crossed: Set<number>;
  curve: [number, number][];
  forecastWarned: boolean;
}

const bucketOf = (t: number) => Math.floor(t / BUCKET_MS) * BUCKET_MS;

/** The index key a window or a budget scope is matched on. */
function matchKeyOfScope(s: ControlScope): string {
  if (s.persona_id !== undefined) return `persona|${s.tenant}|${s.persona_id}`;
  if (s.feature !== undefined) return `feature|${s.tenant}|${s.feature}`;
  if (s.user_id !== undefined) return `user|${s.tenant}|${s.user_id}`;
  if (s.model !== undefined) return `model|${s.tenant}|${s.model}`;
  return `tenant|${s.tenant}`;
}

function matchKeyOfWindow(w: Pick<WindowAggregate, "scope" | "key" | "tenant">): string | undefined {
  switch (w.scope) {
    case "tenant":
      return `tenant|${w.tenant}`;
    case "tenant_persona":
      return `persona|${w.tenant}|${w.key.persona_id}`;
    case "tenant_feature":
      return `feature|${w.tenant}|${w.key.feature}`;
    case "tenant_user":
      return `user|${w.tenant}|${w.key.user_id}`;
    case "tenant_model":
      return `model|${w.tenant}|${w.key.model}`;
    default:
      return undefined;
  }
}

function emptyState(cutoff: number): State {
  return {
    committed: new Map(),
    committedTotal: 0n,
    open: new Map(),
    lastFinal: new Map(),
    cutoff,
    seeded: 0n,
    periodStart: Number.NaN,
    crossed: new Set(),
    curve: [],
    forecastWarned: false,
  };
}

/** The alert series of one threshold of a budget in one period (a rolling budget has a single period). */
function thresholdSeries(b: Budget, periodStart: Date, threshold: number): string {
  return `budget:${b.key}:${b.period === "rolling_30d" ? "rolling" : periodStart.toISOString()}:${threshold}`;
}

/** used / amount as a number, from exact picodollars (1e-6 resolution). */
const ratio = (spend: bigint, amount: bigint) => Number((spend * 1_000_000n) / amount) / 1_000_000;
const usd = (pico: bigint) => Number(fromPico(pico)).toFixed(2);

export function createBudgetTracker() {
  const budgets = new Map<string, Budget>();
  const states = new Map<string, State>();
  const byMatch = new Map<string, Set<string>>();

  function unindex(key: string): void {
    const old = budgets.get(key);
    if (!old) return;
    const m = matchKeyOfScope(old.scope);
    byMatch.get(m)?.delete(key);
    if (!byMatch.get(m)?.size) byMatch.delete(m);
  }

  /** Drops the buckets no longer inside the period (calendar: before its start; rolling: older than 30 days). */
  function prune(s: State, from: number): void {
    for (const [bucket, cost] of s.committed)
      if (bucket + BUCKET_MS <= from) {
        s.committed.delete(bucket);
        s.committedTotal -= cost;
      }
    for (const [id, o] of s.open) if (o.bucket + BUCKET_MS <= from) s.open.delete(id);
  }

  function spendOf(s: State): bigint {
    let open = 0n;
    for (const o of s.open.values()) open += o.cost;
    return s.committedTotal + open;
  }

  /** Rolling budgets: when enough of the oldest spend has left the 30 days for the rest to fall under the amount. */
  function rollingRelease(b: Budget, s: State, at: number): number {
    let spend = spendOf(s);
    const amount = toPico(b.amount_usd);
    for (const bucket of [...s.committed.keys()].sort((x, y) => x - y)) {
      if (spend < amount) break;
      spend -= s.committed.get(bucket)!;
      if (spend < amount) return bucket + BUCKET_MS + ROLLING_MS;
    }
    return at + ROLLING_MS;
  }

  function evaluate(b: Budget, s: State, at: number, final: boolean, period: { start: Date; end: Date }, atLeast = 0n): BudgetFinding[] {
    const amount = toPico(b.amount_usd);
    const counted = spendOf(s);
    const spend = counted > atLeast ? counted : atLeast;
    const used = ratio(spend, amount);
    // A threshold fires once; it is armed again when spend falls back under it
    // (a new calendar period, or old spend leaving the rolling 30 days).
    for (const th of s.crossed) if (used < th) s.crossed.delete(th);
    const out: BudgetFinding[] = [];
    const label = `${periodLabel(b.period, b.timezone)} budget for ${scopeLabel(b.scope)}`;
    const info = (resetsAt: number): AlertBudget => ({
      key: b.key,
      scope: b.scope,
      period: b.period,
      timezone: b.timezone,
      amount_usd: b.amount_usd,
      spend_usd: fromPico(spend),
      hard: b.hard,
      period_start: period.start.toISOString(),
      resets_at: new Date(resetsAt).toISOString(),
    });
    const newly = b.thresholds.filter((th) => used >= th && !s.crossed.has(th));
    if (newly.length) {
      const th = newly[newly.length - 1]!;
      for (const t of newly) s.crossed.add(t);
      const resetsAt = b.period === "rolling_30d" ? rollingRelease(b, s, at) : period.end.getTime();
      out.push({
        series: thresholdSeries(b, period.start, th),
        budget: info(resetsAt),
        finding: {
          type: "budget",
          severity: th >= 1 ? "critical" : th >= 0.9 ? "high" : "medium",
          observed: fromPico(spend),
          expected: b.amount_usd,
          multiplier: Number(used.toFixed(3)),
          score: null,
          message: `${Math.round(used * 100)} % of the ${label} spent ($${usd(spend)} of $${usd(amount)})`,
        },
      });
    }
    if (b.period !== "rolling_30d" && final && !s.forecastWarned && used < 1) {
      s.curve.push([at, Number(fromPico(s.committedTotal))]);
      if (s.curve.length >= 6) {
        const fit = linearFit(s.curve.slice(-48));
        const end = period.end.getTime();
        const projected = fit.a + fit.b * end;
        const limit = Number(b.amount_usd);
        if (fit.b > 0 && projected > limit) {
          s.forecastWarned = true;
          const when = new Date((limit - fit.a) / fit.b);
          out.push({
            series: `budget_forecast:${b.key}:${period.start.toISOString()}`,
            budget: info(end),
            finding: {
              type: "budget_forecast",
              severity: "medium",
              observed: projected.toFixed(2),
              expected: b.amount_usd,
              multiplier: Number((projected / limit).toFixed(3)),
              score: null,
              message: `projected to exceed the ${label} on ${when.toISOString().slice(0, 16).replace("T", " ")} UTC ($${projected.toFixed(2)} by period end vs $${limit.toFixed(2)})`,
            },
          });
        }
      }
    }
    return out;
  }

  return {
    /**
     * Sets (or replaces) a budget with a fresh state: windows starting before
     * `cutoff` are left to `seed`, which adds the spend the ledger holds up
     * to the cutoff; windows from the cutoff on count as they come.
     */
    set(record: BudgetRecord, key = budgetKvKey(record), cutoff = Number.NEGATIVE_INFINITY): Budget {
      unindex(key);
      const b: Budget = { ...record, key, thresholds: [...record.thresholds].sort((x, y) => x - y) };
      const m = matchKeyOfScope(b.scope);
      budgets.set(key, b);
      byMatch.set(m, (byMatch.get(m) ?? new Set()).add(key));
      states.set(key, emptyState(cutoff));
      return b;
    },
    remove(key: string): void {
      unindex(key);
      budgets.delete(key);
      states.delete(key);
    },
    get: (key: string): Budget | undefined => budgets.get(key),
    /** Whether any budget is set on a user: per-user windows matter only then. */
    hasUserBudgets: (): boolean => [...budgets.values()].some((b) => b.scope.user_id !== undefined),
    list: (): Budget[] => [...budgets.values()],
    /** Where a budget's history must start for `seed`: its period start, or 30 days back. */
    lookbackStart(key: string, at: Date): Date | undefined {
      const b = budgets.get(key);
      return b && periodOf(b.period, b.timezone, at).start;
    },

    /** The alert series of each of a budget's thresholds in the period holding `at`. */
    thresholdSeries(key: string, at: Date): { threshold: number; series: string }[] {
      const b = budgets.get(key);
      if (!b) return [];
      const start = periodOf(b.period, b.timezone, at).start;
      return b.thresholds.map((threshold) => ({ threshold, series: thresholdSeries(b, start, threshold) }));
    },

    /**
     * Marks thresholds as already alerted in the period holding `at` (a
     * restarted detector reads them from the alerts it raised before), so
     * they do not fire again while spend stays above them. An alert names
     * only the highest threshold a crossing passed: the lower ones count as
     * crossed with it.
     */
    restoreCrossed(key: string, alerted: Iterable<number>, at: Date): void {
      const b = budgets.get(key);
      const s = states.get(key);
      if (!b || !s) return;
      const highest = Math.max(...alerted);
      for (const th of b.thresholds) if (th <= highest) s.crossed.add(th);
      if (b.period !== "rolling_30d") s.periodStart = periodOf(b.period, b.timezone, at).start.getTime();
    },

    /** Adds spend already in the ledger, per 15-minute bucket, for event times before the budget's cutoff. */
    seed(key: string, buckets: Iterable<{ bucket: Date; spend: string }>): void {
      const s = states.get(key);
      if (!s) return;
      for (const { bucket, spend } of buckets) {
        const t = bucketOf(bucket.getTime());
        const cost = toPico(spend);
        s.committed.set(t, (s.committed.get(t) ?? 0n) + cost);
        s.committedTotal += cost;
        s.seeded += cost;
      }
    },

    /** The spend counted so far for a budget (committed and open windows), as a decimal string. */
    spend(key: string): string | undefined {
      const s = states.get(key);
      return s && fromPico(spendOf(s));
    },

    /**
     * Evaluates a budget as it stands, with no window: what setting or
     * changing a budget does at once, so thresholds the period's spend has
     * already crossed alert without waiting for the scope's next window.
     * `aheadUsd` is spend the ledger holds past the cutoff (in the window
     * still open): counted for this evaluation only, as the windows bring it
     * in for good. Windows that came in meanwhile hold part of the same
     * spend, so the larger of the two views counts, never their sum.
     */
    evaluateNow(key: string, at: Date, aheadUsd = "0"): BudgetFinding[] {
      const b = budgets.get(key);
      const s = states.get(key);
      if (!b || !s) return [];
      const period = periodOf(b.period, b.timezone, at);
      if (b.period !== "rolling_30d") s.periodStart = period.start.getTime();
      prune(s, period.start.getTime());
      return evaluate(b, s, at.getTime(), false, period, s.seeded + toPico(aheadUsd));
    },

    /**
     * Adds a window of a budget's scope: a final window's spend for good, an
     * open window's as a look-ahead (replaced by its next aggregate). Returns
     * the findings it causes.
     */
    add(w: WindowAggregate): BudgetFinding[] {
      const m = matchKeyOfWindow(w);
      const keys = m ? byMatch.get(m) : undefined;
      if (!keys?.size) return [];
      const start = Date.parse(w.window_start);
      const at = Date.parse(w.window_end);
      const cost = toPico(w.cost_usd);
      // A model's windows come per provider: each is its own series.
      const series = `${w.scope}|${Object.values(w.key).join("\u0000")}`;
      const out: BudgetFinding[] = [];
      for (const key of keys) {
        const b = budgets.get(key)!;
        const s = states.get(key)!;
        if (start < s.cutoff) continue;
        // Final windows come once per series in time order; a redelivered one is not added twice.
        if (start <= (s.lastFinal.get(series) ?? Number.NEGATIVE_INFINITY)) continue;
        const period = periodOf(b.period, b.timezone, new Date(at - 1));
        const periodStart = period.start.getTime();
        if (b.period !== "rolling_30d" && s.periodStart !== periodStart) {
          s.crossed.clear();
          s.curve = [];
          s.forecastWarned = false;
        }
        s.periodStart = periodStart;
        prune(s, periodStart);
        const bucket = bucketOf(start);
        // A late final window from an earlier period no longer counts.
        if (bucket + BUCKET_MS <= periodStart) continue;
        const id = `${series}|${start}`;
        if (w.final) {
          s.open.delete(id);
          s.lastFinal.set(series, start);
          s.committed.set(bucket, (s.committed.get(bucket) ?? 0n) + cost);
          s.committedTotal += cost;
        } else {
          s.open.set(id, { bucket, cost });
        }
        out.push(...evaluate(b, s, at, w.final, period));
      }
      return out;
    },
  };
}
export type BudgetTracker = ReturnType<typeof createBudgetTracker>;
