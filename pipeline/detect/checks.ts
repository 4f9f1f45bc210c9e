// The cost checks the engine runs, as one table: a row per section of the
// `detection.checks` configuration (cost-checks.ts), typed as a mapped type
// over those sections, so a check with parameters but no row (or a row with
// no parameters) does not compile. The engine owns what every series keeps
// (its costs, same-hour costs and days); a row owns the rest of its own
// state, judges a final window and learns the windows that become baseline.
// Rows run in the table's order: a later check may yield to an earlier one's
// finding (creep waits for no spike, mix shift for no spike or efficiency).
//
// Adding a check: its finding function (its own file, or detectors.ts), its
// parameters in `costChecksSchema`, its alert type in schemas/alert.ts, and
// its row here.
import type { WindowAggregate } from "../../schemas/index.ts";
import type { ScopeSensitivity } from "./cost-checks.ts";
import {
  costPerPost,
  creep,
  efficiency,
  mixShift,
  roi,
  shares,
  spike,
  spikeClear,
  zGate,
  type AlertType,
  type DetectorConfig,
  type Finding,
} from "./detectors.ts";
import { Ring, median } from "./robust.ts";

const HISTORY = 288;

/** What the engine keeps for every series, whatever checks run. */
export interface SeriesCore {
  costs: Ring;
  byHour: Map<number, Ring>;
  days: Set<number>;
}

/** One window of one series, as every check sees it. */
export interface CheckInput {
  w: WindowAggregate;
  cost: number;
  start: Date;
  series: SeriesCore;
  config: DetectorConfig;
  /** The series has `checks.minHistory` windows of history. */
  enough: boolean;
  /** The robust baseline of the window's cost (same hour of day once earlier days hold it). */
  base: { m: number; spread: number; seasonal: boolean; n: number };
  /** The scope's configured sensitivity. */
  sensitivity: ScopeSensitivity;
  /** The series detector: its name and the score at or above which it counts as an anomaly. */
  detector: { name: string; threshold: number };
  /** Share of the medium band below which a spike's series is normal again. */
  clearBelow: number;
  /** What the checks before this one found on the window. */
  findings: readonly Finding[];
}

/** A final window judged: a finding, `null` (ran, normal), "hold" (neither: a resolve waits) or undefined (did not run). */
export type Verdict = Finding | null | "hold" | undefined;

export interface CostCheck<S = unknown> {
  /** The alert type it raises (and resolves). */
  type: AlertType;
  /** What `costline detect --list` prints. */
  description: string;
  /** Per-series state, made on the series' first window. */
  state?(config: DetectorConfig): S;
  /** A final window of a series (not a post). */
  judge?(input: CheckInput & { score: number }, state: S): Verdict;
  /** An open window of a series: judged early, never learned. `peek` is the series detector's score of it, when it has one. */
  judgeOpen?(input: CheckInput & { peek: (() => number) | undefined }, state: S): Finding | null;
  /** A final window that becomes baseline (not anomalous), or history in a warm start. */
  learn?(input: Pick<CheckInput, "w" | "cost">, state: S): void;
  /** A post's running total after each of its final windows. */
  judgePost?(total: number, config: DetectorConfig): Finding | null;
}

/** The sections of `detection.checks` that are a check's parameters (minHistory is shared). */
export type CheckName = Exclude<keyof DetectorConfig, "minHistory">;

const row = <S>(r: CostCheck<S>): CostCheck => r as unknown as CostCheck;

/** The spike check's bands with the scope's sensitivity applied. */
function spikeBands(input: CheckInput) {
  const sens = input.sensitivity;
  const c = { ...input.config.spike };
  if (sens.spikeMultiplier) {
    const k = sens.spikeMultiplier / c.medium;
    c.medium *= k;
    c.high *= k;
    c.critical *= k;
  }
  if (sens.minCostUsd !== undefined) c.minCostUsd = sens.minCostUsd;
  return { c, threshold: sens.threshold ?? input.detector.threshold };
}

export const costCheckTable: { readonly [K in CheckName]: CostCheck } = {
  spike: row({
    type: "spike",
    description: "window cost at 3× / 3.5× / 5× its baseline (medium / high / critical) and scored anomalous by the series detector",
    judge(input) {
      if (!input.enough || input.sensitivity.off) return undefined;
      const { c, threshold } = spikeBands(input);
      const score = { score: input.score, threshold };
      const f = spike(input.cost, input.base, c, { ...score, detector: input.detector.name, partial: false });
      // Hysteresis: between firing and clearly normal, a spike neither fires nor counts towards resolving.
      return f || spikeClear(input.cost, input.base, c, score, input.clearBelow) ? f : "hold";
    },
    judgeOpen(input) {
      if (!input.enough || input.sensitivity.off) return null;
      // An open window is judged without being learned: the detector's peek, else the robust-z gate.
      const { c, threshold } = spikeBands(input);
      const peeked = input.peek !== undefined;
      return spike(input.cost, input.base, c, {
        score: input.peek ? input.peek() : zGate(input.cost, input.base, c.minZ),
        threshold: peeked ? threshold : 0.5,
        detector: peeked ? input.detector.name : "robust-z",
        partial: true,
      });
    },
  }),
  creep: row({
    type: "creep",
    description: "cost sustained well above the same hours on earlier days, though no single window spiked",
    /** Each recent final window's cost over the median of the same hour on earlier days. */
    state: (config) => new Ring(config.creep.recentWindows),
    judge({ series, start, cost, config, findings }, hourRatios) {
      const c = config.creep;
      const sameHour = series.byHour.get(start.getUTCHours())?.values() ?? [];
      if (series.days.size <= c.minSeasonalDays || sameHour.length < c.minSeasonalDays) return undefined;
      const usual = median(sameHour);
      if (usual > 0) hourRatios.push(cost / usual);
      if (hourRatios.length < c.recentWindows || findings.length) return undefined;
      return creep(median(hourRatios.values()), c, usual, cost);
    },
  }),
  efficiency: row({
    type: "efficiency",
    description: "cost per 1k output tokens (or per request) 30 % or more above its baseline",
    state: () => ({ perKOutput: new Ring(HISTORY), perRequest: new Ring(HISTORY) }),
    judge({ w, cost, enough, config }, s) {
      if (!enough) return undefined;
      if ((w.output_tokens ?? 0) > 0)
        return efficiency("per 1k output tokens", cost / (w.output_tokens / 1000), s.perKOutput.values(), config.efficiency);
      if (w.requests > 0) return efficiency("per request", cost / w.requests, s.perRequest.values(), config.efficiency);
      return undefined;
    },
    learn({ w, cost }, s) {
      if ((w.output_tokens ?? 0) > 0 && cost > 0) s.perKOutput.push(cost / ((w.output_tokens ?? 0) / 1000));
      if ((w.requests ?? 0) > 0 && cost > 0) s.perRequest.push(cost / (w.requests ?? 1));
    },
  }),
  roi: row({
    type: "roi",
    description: "(revenue − cost) / cost over the last windows at or below −50 % for a scope that usually earns",
    state: () => ({ history: new Ring(HISTORY), recent: [] as { revenue: number; cost: number }[] }),
    judge({ w, cost, config }, s) {
      s.recent.push({ revenue: Number(w.revenue_usd), cost });
      if (s.recent.length > config.roi.windows) s.recent.shift();
      if (s.history.length < config.minHistory) return undefined;
      return roi(s.recent, median(s.history.values()), config.roi);
    },
    learn({ w, cost }, s) {
      const revenue = Number(w.revenue_usd ?? 0);
      if (cost > 0 && revenue > 0) s.history.push((revenue - cost) / cost);
    },
  }),
  mixShift: row({
    type: "mix_shift",
    description: "the cost shares across models and operations moved (Mahalanobis distance)",
    state: () => ({ mix: [] as number[][], labels: [] as string[] }),
    judge({ w, cost, config, findings }, s) {
      if (w.scope !== "tenant" || !(cost > 0)) return undefined;
      const labels = [...Object.keys(w.by_model).map((m) => `model:${m}`), ...Object.keys(w.by_operation).map((o) => `operation:${o}`)];
      for (const l of labels) if (!s.labels.includes(l)) s.labels.push(l);
      if (s.labels.length < 2) return undefined;
      const now = shares(w, s.labels);
      // Older vectors lack labels seen later: their share of those was zero.
      const history = s.mix.map((h) => [...h, ...new Array<number>(s.labels.length - h.length).fill(0)]);
      const verdict = findings.some((f) => f.type === "spike" || f.type === "efficiency")
        ? undefined
        : mixShift(now, history, s.labels, config.mixShift);
      s.mix.push(now);
      if (s.mix.length > HISTORY) s.mix.shift();
      return verdict;
    },
  }),
  costPerPost: row({
    type: "cost_per_post",
    description: "a post's running total at a multiple of the target cost per post",
    judgePost: (total, config) => costPerPost(total, config.costPerPost),
  }),
};

/** The rows in the order they run. */
export const costCheckRows: readonly CostCheck[] = Object.values(costCheckTable);
