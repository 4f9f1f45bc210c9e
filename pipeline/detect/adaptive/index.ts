// The adaptive detector: an ensemble of robust baselines — the recent level,
// the step from the previous row, the hour-of-day and hour-of-week profiles,
// half-hour averages of the level and daily deviations, and novelty beyond
// the range seen, and pattern novelty (the last half hour's shape against
// the nearest remembered one) — each calibrated on its own history of this series into a
// tail probability. The second-smallest probability over feature families
// (two families must agree; the two seasonal profiles are one) becomes an anomaly likelihood in [0, 1] (0.5 ⇔ p = 10⁻⁵ on this
// series), and the same model run on hourly block means adds what per-row
// noise hides. A separate residual channel, the value against the hour's
// profile, catches sustained rises the morning ramp hides. Every span is in time and every scale is learned, so one
// threshold fits series of any scale and cadence. Streaming: each row is
// scored from the rows before it, then learned.
import * as z from "zod";
import type { SeriesDetector } from "../series-detector.ts";
import { LevelBaseline, SeasonalBaseline, StepBaseline, robustSpread } from "./baselines.ts";
import { Cadence } from "./cadence.ts";
import { agreedFamilyPValue, likelihoodScore, refractory, suppressAfterAlert } from "./combine.ts";
import { PatternMemory } from "./pattern-memory.ts";
import { SortedWindow } from "./sorted-window.ts";
import { TailModel } from "./tail.ts";

export const adaptiveParamsSchema = z.object({
  /**
   * score ≥ threshold ⇒ is_anomaly / alert, and the start of the quiet span
   * (suppressHours). 0.34 ⇔ two features agree on a tail probability ≤ 10⁻³;
   * it is where NAB's corpus-wide sweep put this detector's best threshold
   * before the quiet span existed, so the alert line and the quiet span's
   * trigger are one value.
   */
  threshold: z.number().min(0).max(1).default(0.34),
  /** Which deviations count: up only (spend), down only, or both. */
  direction: z.enum(["both", "up", "down"]).default("both"),
  /** Span of the recent-level and step baselines (at least 100 rows). */
  levelHours: z.number().positive().default(6),
  /** Span a deviation is averaged over (sustained shifts, creeps). */
  smoothMinutes: z.number().positive().default(30),
  /** Earlier days kept per hour of day, and the days needed before that profile is used. */
  seasonDays: z.number().int().positive().default(7),
  seasonMinDays: z.number().int().positive().default(3),
  /** Earlier weeks kept per hour of week, and the weeks needed before that profile is used. */
  weekWeeks: z.number().int().positive().default(4),
  weekMinWeeks: z.number().int().positive().default(2),
  /**
   * A separate channel on the residual from the hour-of-day profile, against
   * the recent residuals: a sustained rise (runaway loop, pricier model, creep)
   * that the morning ramp would hide in the plain level. Per-row model only.
   * Off by default: it costs 2.4 points of NAB (59.1 with it, 61.5 without)
   * and the spend detector (../spend) catches those rises on cost series.
   */
  residual: z.boolean().default(false),
  /**
   * Tail probability below which a residual value counts as an anomaly and is
   * kept out of its own calibration (SPOT's rule). Higher: more sustained
   * rises caught (cost incidents), at some cost on NAB (1e-4: 62.0, 1e-3: 59.1).
   */
  residualRisk: z.number().gt(0).lt(1).default(1e-3),
  /** How much of each feature's past its calibration remembers. */
  calibrationDays: z.number().positive().default(7),
  /** Share of a feature's history fitted as its tail. */
  tailShare: z.number().gt(0).lt(0.5).default(0.05),
  /** Learning time before any score above 0 (at least 100 rows, at most 720). */
  probationHours: z.number().nonnegative().default(12),
  /** After a score of at least 0.6 × threshold, only a higher one within this span is reported. */
  refractoryHours: z.number().nonnegative().default(6),
  /** After a score at or above threshold, nothing scores above 0 for this span (0: off). */
  suppressHours: z.number().nonnegative().default(6),
  /** A second, coarse model on block means of this span catches what per-row noise hides (0: none). */
  coarseMinutes: z.number().nonnegative().default(60),
  /** Decades of tail probability that score 0.5. */
  scoreHalfDecades: z.number().positive().default(5),
});
export type AdaptiveParams = z.infer<typeof adaptiveParamsSchema>;

const MIN_ROWS = 100;
const MAX_ROWS = 10_080;
const FEATURES = 8;
/**
 * Family of each feature, in the order `step` builds them (level, its
 * average, step, hour-of-day, its average, hour-of-week, novelty, pattern):
 * the two seasonal profiles are one family, so a value off both its hour's
 * day profile and its weekday-hour profile is one witness, not the two the
 * agreement asks for (on a series without a weekly pattern the two are the
 * same reading). NAB dev 69.7 / 60.2 / 74.6 → 70.2 / 61.1 / 74.9.
 */
const FAMILY = [0, 1, 2, 3, 4, 3, 5, 6];
/**
 * Pattern novelty: the span of a shape and how many shapes are remembered
 * (spread over the calibration span). NAB dev: 30 min 69.7, 15 min 68.1,
 * 1 h 69.4, 2 h 67.9; 300 shapes 69.4, 600 69.7, 1,200 68.9.
 */
const PATTERN_HOURS = 0.5;
const PATTERNS = 600;
/** Share of the long-run spread below which no short window's spread may fall. */
const LONG_FLOOR = 0.05;

function runningMean(size: number): (x: number) => number {
  const ring = new Float64Array(size);
  let n = 0,
    sum = 0;
  return (x) => {
    const slot = n % size;
    if (n >= size) sum -= ring[slot]!;
    ring[slot] = x;
    sum += x;
    n++;
    return sum / Math.min(n, size);
  };
}

function buildModel(p: AdaptiveParams, cadence: Cadence) {
  const perHour = Math.max(1, Math.round(3_600_000 / cadence.intervalMs()));
  const calibration = cadence.rows(p.calibrationDays * 24, 500, MAX_ROWS);
  const smoothRows = cadence.rows(p.smoothMinutes / 60, 3, 60);
  const levelRows = cadence.rows(p.levelHours, MIN_ROWS, 2_000);
  // A daily profile needs a few rows a day; a series sampled every few hours or slower has none.
  const profiled = cadence.intervalMs() <= 4 * 3_600_000;
  return {
    probation: cadence.rows(p.probationHours, MIN_ROWS, 720),
    level: new LevelBaseline(levelRows),
    step: new StepBaseline(levelRows),
    day: profiled ? new SeasonalBaseline((at) => at.getUTCHours(), perHour * p.seasonDays, perHour * p.seasonMinDays) : undefined,
    week: profiled
      ? new SeasonalBaseline((at) => at.getUTCDay() * 24 + at.getUTCHours(), perHour * p.weekWeeks, perHour * p.weekMinWeeks)
      : undefined,
    range: new SortedWindow(calibration),
    smoothLevel: runningMean(smoothRows),
    smoothDay: runningMean(smoothRows),
    residual: p.residual ? new LevelBaseline(levelRows) : undefined,
    smoothResidual: runningMean(smoothRows),
    residualTails: Array.from(
      { length: 2 },
      () => new TailModel({ history: calibration, tailShare: p.tailShare, minScale: 0.25, minHistory: MIN_ROWS }),
    ),
    tails: Array.from(
      { length: FEATURES },
      () => new TailModel({ history: calibration, tailShare: p.tailShare, minScale: 0.25, minHistory: MIN_ROWS }),
    ),
    episode: refractory(cadence.rows(p.refractoryHours, 0, 2_000), 0.6 * p.threshold),
    pattern: new PatternMemory(cadence.rows(PATTERN_HOURS, 6, 24), PATTERNS, Math.max(1, Math.round(calibration / PATTERNS))),
    rows: 0,
  };
}

export function createAdaptive(params: Partial<AdaptiveParams> = {}): SeriesDetector {
  const p = adaptiveParamsSchema.parse(params);
  const cadence = new Cadence();
  const pending: [number, Date][] = [];
  let model: ReturnType<typeof buildModel> | undefined;

  const directed = (zv: number): number =>
    p.direction === "both" ? Math.abs(zv) : p.direction === "up" ? Math.max(zv, 0) : Math.max(-zv, 0);
  // How far a value lies beyond everything seen in the calibration span, in usual spreads.
  const novelty = (x: number, seen: SortedWindow, spread: number): number => {
    const s = Math.max(spread, 1e-9);
    const above = p.direction === "down" ? 0 : (x - seen.quantile(1)) / s;
    const below = p.direction === "up" ? 0 : (seen.quantile(0) - x) / s;
    return Math.max(0, above, below);
  };

  /**
   * The residual channel's p: the value minus the hour's profile median, as a
   * robust z against the recent residuals, and its half-hour average; both
   * must agree (the larger p). Only where the profile expects something (a
   * median above 0); in an hour that is mostly idle the residual is the
   * value itself, and one expensive call would look like an incident. As in SPOT, a value already anomalous does not
   * join the calibration, so one incident does not hide the next.
   */
  function residualChannel(m: ReturnType<typeof buildModel>, residual: LevelBaseline, value: number, at: Date, floor: number): number {
    const expected = m.day?.resolvedMedian(at);
    if (expected === undefined) return 1;
    const e = value - expected;
    const zRes = residual.z(e, floor);
    residual.learn(e);
    let worst = 0;
    [directed(zRes), directed(m.smoothResidual(zRes))].forEach((r, k) => {
      const tail = m.residualTails[k]!;
      const pv = tail.pValue(r);
      if (!(pv < p.residualRisk)) tail.learn(r);
      worst = Math.max(worst, pv);
    });
    return worst;
  }

  function step(m: ReturnType<typeof buildModel>, value: number, at: Date): number {
    const floor = LONG_FLOOR * robustSpread(m.range, 0);
    const spread = m.level.spread(floor);
    const zLevel = m.level.z(value, floor);
    const zDay = m.day?.z(value, at, spread);
    const zWeek = m.week?.z(value, at, spread);
    const raw = [
      directed(zLevel),
      directed(m.smoothLevel(zLevel)),
      directed(m.step.z(value, floor)),
      zDay === undefined ? undefined : directed(zDay),
      zDay === undefined ? undefined : directed(m.smoothDay(zDay)),
      zWeek === undefined ? undefined : directed(zWeek),
      m.range.size < 8 ? undefined : novelty(value, m.range, spread),
    ];
    // The last half hour's shape, in long-run spreads, against the nearest remembered one: a pattern change with no large value.
    // With a direction, only while the value lies on that side of the recent level (up ignores a new shape of drops).
    if (m.range.size >= 8) {
      const d = m.pattern.observe((value - m.range.quantile(0.5)) / Math.max(robustSpread(m.range, 0), 1e-9));
      raw.push(p.direction === "both" || directed(zLevel) > 0 ? d : undefined);
    }
    const residualP = m.residual ? residualChannel(m, m.residual, value, at, floor) : 1;
    const ps: [number, number][] = [];
    raw.forEach((r, i) => {
      if (r === undefined || !Number.isFinite(r)) return;
      ps.push([i, m.tails[i]!.pValue(r)]);
      m.tails[i]!.learn(r);
    });
    m.range.push(value);
    m.level.learn(value);
    m.step.learn(value);
    m.day?.learn(value, at);
    m.week?.learn(value, at);
    m.rows++;
    const score = m.episode(likelihoodScore(Math.min(agreedFamilyPValue(ps, FAMILY), residualP), p.scoreHalfDecades));
    return m.rows <= m.probation ? 0 : score;
  }

  // Block means at the coarse span, fed to a second model of the same kind; its score stands at a block's last row.
  let quiet: ((score: number) => number) | undefined;
  let coarse: { detector: SeriesDetector; rows: number; sum: number; n: number; start: Date | undefined } | undefined;
  const coarseScore = (value: number, at: Date): number => {
    if (!coarse) return 0;
    coarse.start ??= at;
    coarse.sum += value;
    if (++coarse.n < coarse.rows) return 0;
    const s = coarse.detector.score(coarse.sum / coarse.n, coarse.start);
    coarse.sum = 0;
    coarse.n = 0;
    coarse.start = undefined;
    return s;
  };

  return {
    score(value, at) {
      if (model) return quiet!(Math.max(step(model, value, at), coarseScore(value, at)));
      // Buffer the first rows until the cadence is known, then learn them (no score while learning).
      cadence.observe(at);
      pending.push([value, at]);
      if (!cadence.known) return 0;
      model = buildModel(p, cadence);
      quiet = suppressAfterAlert(cadence.rows(p.suppressHours, 0, 10_000), p.threshold);
      const blockRows = Math.round((p.coarseMinutes * 60_000) / cadence.intervalMs());
      if (p.coarseMinutes > 0 && blockRows >= 2)
        coarse = {
          detector: createAdaptive({ ...p, coarseMinutes: 0, residual: false, suppressHours: 0 }),
          rows: blockRows,
          sum: 0,
          n: 0,
          start: undefined,
        };
      for (const [v, t] of pending) {
        step(model, v, t);
        coarseScore(v, t);
      }
      pending.length = 0;
      return 0;
    },
  };
}
