// The detectors, as pure functions of a series' history and one window.
// Each returns a finding (what is abnormal, against what baseline) or null.
// Money here is statistics on window totals, not ledger arithmetic, so floats
// are fine; the ledger's sums stay decimal.
import { createRequire } from "node:module";
import type * as MlMatrix from "ml-matrix";
import type { Alert, WindowAggregate } from "../../schemas/index.ts";
import { mad, median, robustZ } from "./robust.ts";
import { costChecksSchema, type DetectorConfig } from "./cost-checks.ts";
import type { Finding } from "../findings/finding.ts";

/**
 * ml-matrix, required on the first mix-shift check rather than imported: the
 * configuration's schema reaches this module, so an import would load and
 * compile its 125 KB in every command-line call, none of which runs a check.
 */
let mlMatrix: typeof MlMatrix | undefined;
const matrices = (): typeof MlMatrix => (mlMatrix ??= createRequire(import.meta.url)("ml-matrix") as typeof MlMatrix);

export type Severity = Alert["severity"];
export type AlertType = Alert["type"];

export type { Finding };

export type { DetectorConfig } from "./cost-checks.ts";

export const defaultDetectorConfig: DetectorConfig = costChecksSchema.parse({});

const usd = (x: number) => x.toFixed(6).replace(/\.?0+$/, "") || "0";

function band(multiplier: number, c: DetectorConfig["spike"]): Severity | null {
  if (multiplier >= c.critical) return "critical";
  if (multiplier >= c.high) return "high";
  if (multiplier >= c.medium) return "medium";
  return null;
}

/** Baseline cost for a window: the same hour of day on earlier days once there are enough, else the recent windows. */
export function baselineFor(
  recent: readonly number[],
  sameHour: readonly number[],
  minSeasonal: number,
): { m: number; spread: number; seasonal: boolean; n: number } {
  const seasonal = sameHour.length >= minSeasonal;
  const xs = seasonal ? sameHour : recent;
  const m = median(xs);
  return { m, spread: mad(xs, m), seasonal, n: xs.length };
}

/** What the spike check knows of the series detector's verdict on this window. */
export interface SpikeScore {
  /** In [0, 1]: the series detector's score (or, on an open window of a detector without peek, the robust-z gate's). */
  score: number;
  threshold: number;
  detector: string;
  partial: boolean;
}

/** Robust z of `cost` against the baseline as a [0, 1] score: 0.5 at `minZ`. */
export function zGate(cost: number, base: { m: number; spread: number }, minZ: number): number {
  return 1 / (1 + Math.exp(-(robustZ(cost, base.m, base.spread) - minZ)));
}

export function baselineText(base: { seasonal: boolean; n: number }): string {
  return base.seasonal ? `median of this hour on ${base.n} earlier days` : `median of the last ${base.n} windows`;
}

/**
 * Spike: the window's cost at a severity band's multiple of its robust
 * baseline (3× / 3.5× / 5× by default) and scored anomalous by the series
 * detector — the band says how bad, the score says it is not the series'
 * usual noise.
 */
export function spike(
  cost: number,
  base: { m: number; spread: number; seasonal: boolean; n: number },
  c: DetectorConfig["spike"],
  s: SpikeScore,
): Finding | null {
  if (cost < c.minCostUsd) return null;
  const expected = Math.max(base.m, c.minCostUsd / 10);
  const multiplier = cost / expected;
  const severity = band(multiplier, c);
  if (!severity || !(s.score >= s.threshold)) return null;
  return {
    type: "spike",
    severity,
    observed: usd(cost),
    expected: usd(expected),
    multiplier: Number(multiplier.toFixed(2)),
    score: Number(s.score.toFixed(4)),
    baseline: baselineText(base),
    detector: s.detector,
    message: `cost ${multiplier.toFixed(1)}× the ${base.seasonal ? "usual for this hour" : "recent"} baseline ($${usd(cost)} vs $${usd(expected)}, score ${s.score.toFixed(2)}${s.partial ? ", window still open" : ""})`,
  };
}

/** Whether a spike's series is normal again (hysteresis: well below the medium band and the score threshold). */
export function spikeClear(
  cost: number,
  base: { m: number },
  c: DetectorConfig["spike"],
  s: Pick<SpikeScore, "score" | "threshold">,
  clearBelow: number,
): boolean {
  const expected = Math.max(base.m, c.minCostUsd / 10);
  return cost < c.minCostUsd || (cost / expected < c.medium * clearBelow && s.score < s.threshold);
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
    baseline: "median of the same hours on earlier days",
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
    baseline: `median cost ${unit} of the last ${history.length} windows`,
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
    baseline: "median ROI of earlier windows",
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
  const { Matrix, inverse } = matrices();
  const X = new Matrix(history.map((h) => [...h]));
  const mean = X.mean("column");
  const centred = X.clone().subRowVector(mean);
  const cov = centred
    .transpose()
    .mmul(centred)
    .div(Math.max(1, history.length - 1));
  for (let i = 0; i < cov.rows; i++) cov.set(i, i, cov.get(i, i) + 1e-3);
  const d = Matrix.rowVector(now.map((x, i) => x - mean[i]!));
  const d2 = d.mmul(inverse(cov)).mmul(d.transpose()).get(0, 0);
  const biggest = now
    .map((x, i) => ({ label: labels[i]!, change: x - mean[i]! }))
    .sort((a, b) => Math.abs(b.change) - Math.abs(a.change))[0]!;
  if (d2 < c.threshold || Math.abs(biggest.change) < c.minShareChange) return null;
  return {
    type: "mix_shift",
    severity: d2 >= c.threshold * 4 ? "high" : "medium",
    observed: `${biggest.label} ${(now[labels.indexOf(biggest.label)]! * 100).toFixed(0)} %`,
    expected: `${(mean[labels.indexOf(biggest.label)]! * 100).toFixed(0)} %`,
    multiplier: null,
    score: Number(d2.toFixed(1)),
    baseline: `mean cost shares of the last ${history.length} windows`,
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
    baseline: "the target cost per post",
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
