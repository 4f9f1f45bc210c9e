// The detectors, as pure functions of a series' history and one window.
// Each returns a finding (what is abnormal, against what baseline) or null.
// Money here is statistics on window totals, not ledger arithmetic, so floats
// are fine; the ledger's sums stay decimal.
import { Matrix, inverse } from "ml-matrix";
import type { Alert, WindowAggregate } from "../../schemas/index.ts";
import { mad, median, robustZ } from "./robust.ts";

export type Severity = Alert["severity"];
export type AlertType = Alert["type"];

export interface Finding {
  type: AlertType;
  severity: Severity;
  observed: string;
  expected: string;
  multiplier: number | null;
  score: number | null;
  message: string;
}

export interface DetectorConfig {
  /** Windows of history needed before a series is judged. */
  minHistory: number;
  spike: { medium: number; high: number; critical: number; minZ: number; minCostUsd: number };
  efficiency: { worseBy: number; minHistory: number };
  roi: { floor: number; windows: number };
  creep: { ratio: number; recentWindows: number; minSeasonalDays: number };
  mixShift: { minHistory: number; threshold: number; minShareChange: number };
  costPerPost: { multiple: number; targetUsd: number };
}

export const defaultDetectorConfig: DetectorConfig = {
  minHistory: 12,
  spike: { medium: 3, high: 3.5, critical: 5, minZ: 4, minCostUsd: 0.01 },
  efficiency: { worseBy: 0.3, minHistory: 12 },
  roi: { floor: -0.5, windows: 6 },
  creep: { ratio: 1.5, recentWindows: 12, minSeasonalDays: 2 },
  mixShift: { minHistory: 24, threshold: 30, minShareChange: 0.25 },
  costPerPost: { multiple: 2, targetUsd: 0.05 },
};

const usd = (x: number) => x.toFixed(6).replace(/\.?0+$/, "") || "0";

function band(multiplier: number, c: DetectorConfig["spike"]): Severity | null {
  if (multiplier >= c.critical) return "critical";
  if (multiplier >= c.high) return "high";
  if (multiplier >= c.medium) return "medium";
  return null;
}

/** Baseline cost for a window: the same hour of day on earlier days once there are enough, else the recent windows. */
export function baselineFor(recent: readonly number[], sameHour: readonly number[], minSeasonal: number): { m: number; spread: number; seasonal: boolean } {
  const seasonal = sameHour.length >= minSeasonal;
  const xs = seasonal ? sameHour : recent;
  const m = median(xs);
  return { m, spread: mad(xs, m), seasonal };
}

/** Statistical spike: observed cost against a robust baseline, multiplier bands and a robust z-score. */
export function spike(cost: number, base: { m: number; spread: number; seasonal: boolean }, c: DetectorConfig["spike"], partial: boolean): Finding | null {
  if (cost < c.minCostUsd) return null;
  const expected = Math.max(base.m, c.minCostUsd / 10);
  const multiplier = cost / expected;
  const z = robustZ(cost, base.m, base.spread);
  const severity = band(multiplier, c);
  if (!severity || z < c.minZ) return null;
  return {
    type: "spike",
    severity,
    observed: usd(cost),
    expected: usd(expected),
    multiplier: Number(multiplier.toFixed(2)),
    score: Number(z.toFixed(2)),
    message: `cost ${multiplier.toFixed(1)}× the ${base.seasonal ? "usual for this hour" : "recent"} baseline ($${usd(cost)} vs $${usd(expected)}${partial ? ", window still open" : ""})`,
  };
}

/**
 * Slow creep: over the recent windows, cost has stayed well above what the
 * same hours cost on earlier days (the median of their ratios), although no
 * single window spiked.
 */
export function creep(ratio: number, c: DetectorConfig["creep"], usual: number, now: number): Finding | null {
  if (!(ratio >= c.ratio)) return null;
  return {
    type: "creep",
    severity: ratio >= 3 ? "high" : "medium",
    observed: usd(now),
    expected: usd(usual),
    multiplier: Number(ratio.toFixed(2)),
    score: null,
    message: `cost has crept to ${ratio.toFixed(1)}× the usual for these hours, sustained over the last ${c.recentWindows} windows`,
  };
}

/** Efficiency: cost per unit of output worse than its baseline by the configured share. */
export function efficiency(unit: string, now: number, history: readonly number[], c: DetectorConfig["efficiency"]): Finding | null {
  if (history.length < c.minHistory || !(now > 0)) return null;
  const base = median(history);
  if (!(base > 0) || now < base * (1 + c.worseBy)) return null;
  const ratio = now / base;
  return {
    type: "efficiency",
    severity: ratio >= 5 ? "critical" : ratio >= 2 ? "high" : "medium",
    observed: usd(now),
    expected: usd(base),
    multiplier: Number(ratio.toFixed(2)),
    score: null,
    message: `cost ${unit} is ${Math.round((ratio - 1) * 100)} % above its baseline ($${usd(now)} vs $${usd(base)})`,
  };
}

/** ROI: (revenue − cost) / cost over the last windows at or below the floor, for a scope that usually earns. */
export function roi(recent: readonly { revenue: number; cost: number }[], baselineRoi: number, c: DetectorConfig["roi"]): Finding | null {
  if (recent.length < c.windows || baselineRoi <= c.floor) return null;
  const revenue = recent.reduce((s, x) => s + x.revenue, 0);
  const cost = recent.reduce((s, x) => s + x.cost, 0);
  if (cost <= 0) return null;
  const r = (revenue - cost) / cost;
  if (r > c.floor) return null;
  return {
    type: "roi",
    severity: r <= -0.9 ? "high" : "medium",
    observed: r.toFixed(3),
    expected: baselineRoi.toFixed(3),
    multiplier: null,
    score: Number(r.toFixed(3)),
    message: `ROI ${Math.round(r * 100)} % over the last ${recent.length} windows (usually ${Math.round(baselineRoi * 100)} %): revenue $${usd(revenue)} for cost $${usd(cost)}`,
  };
}

/**
 * Mix shift: the cost shares across models and operations, compared with
 * their history by Mahalanobis distance (ridge-regularised covariance), so a
 * change in composition shows even when the total does not move.
 */
export function mixShift(now: number[], history: readonly number[][], labels: string[], c: DetectorConfig["mixShift"]): Finding | null {
  if (history.length < c.minHistory || now.length === 0) return null;
  const X = new Matrix(history.map((h) => [...h]));
  const mean = X.mean("column");
  const centred = X.clone().subRowVector(mean);
  const cov = centred.transpose().mmul(centred).div(Math.max(1, history.length - 1));
  for (let i = 0; i < cov.rows; i++) cov.set(i, i, cov.get(i, i) + 1e-3);
  const d = Matrix.rowVector(now.map((x, i) => x - mean[i]!));
  const d2 = d.mmul(inverse(cov)).mmul(d.transpose()).get(0, 0);
  const biggest = now.map((x, i) => ({ label: labels[i]!, change: x - mean[i]! })).sort((a, b) => Math.abs(b.change) - Math.abs(a.change))[0]!;
  if (d2 < c.threshold || Math.abs(biggest.change) < c.minShareChange) return null;
  return {
    type: "mix_shift",
    severity: d2 >= c.threshold * 4 ? "high" : "medium",
    observed: `${biggest.label} ${(now[labels.indexOf(biggest.label)]! * 100).toFixed(0)} %`,
    expected: `${(mean[labels.indexOf(biggest.label)]! * 100).toFixed(0)} %`,
    multiplier: null,
    score: Number(d2.toFixed(1)),
    message: `the cost mix changed: ${biggest.label} went from ${(mean[labels.indexOf(biggest.label)]! * 100).toFixed(0)} % to ${(now[labels.indexOf(biggest.label)]! * 100).toFixed(0)} % of cost`,
  };
}

export function costPerPost(total: number, c: DetectorConfig["costPerPost"]): Finding | null {
  if (total < c.targetUsd * c.multiple) return null;
  const ratio = total / c.targetUsd;
  return {
    type: "cost_per_post",
    severity: ratio >= 10 ? "high" : "medium",
    observed: usd(total),
    expected: usd(c.targetUsd),
    multiplier: Number(ratio.toFixed(2)),
    score: null,
    message: `this post cost $${usd(total)}, ${ratio.toFixed(1)}× its target of $${usd(c.targetUsd)}`,
  };
}

/** Cost shares of a window over a fixed label set (models, then operations). */
export function shares(w: WindowAggregate, labels: string[]): number[] {
  const total = Number(w.cost_usd);
  return labels.map((l) => {
    const [kind, name] = l.split(":", 2) as [string, string];
    const part = kind === "model" ? w.by_model[name] : w.by_operation[name];
    return total > 0 ? Number(part ?? 0) / total : 0;
  });
}
