// The spend detector: sums of a cost series over several spans (minutes to
// hours) against what the same spans are expected to cost (spend profile:
// hour of day per day type, scaled by the recent drift). Spend is a compound
// Poisson sum (calls × a heavy-tailed cost per call), so the variance of a
// span's sum grows with its expected cost: each span's excess is read in
// units of sqrt(expected × dispersion), the dispersion learned from the
// series. Each span's z is calibrated on its own history (a fitted tail, as
// in the adaptive detector) and the most surprised span, corrected for the
// number of spans looked at, becomes an anomaly likelihood in [0, 1]. A
// short span catches a burst, a long one a runaway loop, a pricier model or
// a slow creep that no single row shows; low-spend series, where most rows
// cost nothing, are judged by their longer sums.
import * as z from "zod";
import type { SeriesDetector } from "../series-detector.ts";
import { Cadence } from "../adaptive/cadence.ts";
import { likelihoodScore } from "../adaptive/combine.ts";
import { Episode } from "./episode.ts";
import { SpendProfile } from "./profile.ts";
import { SpanTail } from "./tail.ts";

export const spendParamsSchema = z.object({
  /** score ≥ threshold ⇒ is_anomaly / alert. 0.4 ⇔ a tail probability of 2·10⁻⁴ once corrected for the number of spans. */
  threshold: z.number().min(0).max(1).default(0.4),
  /** Which deviations count: up (spend; the default), down, or both. */
  direction: z.enum(["both", "up", "down"]).default("up"),
  /** The spans whose sums are judged, in minutes. */
  spansMinutes: z.array(z.number().positive()).min(1).default([5, 15, 60, 240]),
  /** Earlier days kept per hour of the profile, and how many make it usable. */
  profileDays: z.number().int().positive().default(7),
  profileMinDays: z.number().int().positive().default(2),
  /** Hours of the recent drift ratio. */
  driftHours: z.number().int().positive().default(24),
  /** Days of each span's z history its calibration remembers. */
  calibrationDays: z.number().positive().default(7),
  /** Share of each span's z history fitted as its (exponential) tail, and the tail's smallest scale in z units. */
  tailShare: z.number().gt(0).lt(0.5).default(0.02),
  minScale: z.number().positive().default(0.25),
  /** Standard errors added to each tail's fitted scale, counted in the excursions it rests on (0: the plain fit). */
  tailCaution: z.number().nonnegative().default(0),
  /** Learning time before any score above 0. */
  probationHours: z.number().nonnegative().default(24),
  /**
   * One alert per incident: an episode opened by a score at the threshold is reported (at least at the threshold) until
   * the score has stayed below `release` × threshold for `resolveHours`.
   */
  resolveHours: z.number().nonnegative().default(1),
  release: z.number().gt(0).max(1).default(0.6),
  /** Decades of tail probability that score 0.5. */
  scoreHalfDecades: z.number().positive().default(5),
});
export type SpendParams = z.infer<typeof spendParamsSchema>;

/**
 * Tail probability below which a span's z counts as anomalous: kept out of
 * its calibration (SPOT's rule, so one incident does not hide the next) and
 * the row out of the dispersion and the drift ratio.
 */
const LEARN_RISK = 1e-3;
/** Share of one call's squared cost (d²) always in a span's variance: a span expected to cost nothing is not surprised by one ordinary call. */
const FLOOR = 0.5;

class Span {
  private readonly actual: Float64Array;
  private readonly expected: Float64Array;
  private i = 0;
  sumActual = 0;
  sumExpected = 0;
  /**
   * The profile's own error: squared error of the span's expected sum beyond
   * the calls' noise, over the squared expected sum (both as running means,
   * so spans expected to cost little do not dominate it).
   */
  private errSq = 0;
  private expSq = 0;
  learned = 0;
  get relative(): number {
    return this.expSq > 0 ? this.errSq / this.expSq : 0;
  }
  learnError(excess: number, expected: number, poisson: number, rate: number): void {
    this.errSq += (Math.max(0, excess * excess - poisson) - this.errSq) * rate;
    this.expSq += (expected * expected - this.expSq) * rate;
  }
  constructor(readonly rows: number) {
    this.actual = new Float64Array(rows);
    this.expected = new Float64Array(rows);
  }
  push(x: number, e: number): void {
    const k = this.i % this.rows;
    this.sumActual += x - this.actual[k]!;
    this.sumExpected += e - this.expected[k]!;
    this.actual[k] = x;
    this.expected[k] = e;
    this.i++;
  }
  get full(): boolean {
    return this.i >= this.rows;
  }
}

export function createSpend(params: Partial<SpendParams> = {}): SeriesDetector {
  const p = spendParamsSchema.parse(params);
  const cadence = new Cadence();
  const pending: [number, Date][] = [];
  let m: ReturnType<typeof build> | undefined;

  function build() {
    const perDay = cadence.rows(24, 1, 1_000_000);
    const spans = [...new Set(p.spansMinutes.map((min) => cadence.rows(min / 60, 1, perDay)))].map((rows) => new Span(rows));
    const history = cadence.rows(p.calibrationDays * 24, 200, 20_000);
    return {
      profile: new SpendProfile(p.profileDays, p.profileMinDays, p.driftHours),
      spans,
      tails: spans.map(
        () =>
          new SpanTail({
            history,
            tailShare: p.tailShare,
            minScale: p.minScale,
            minHistory: Math.min(history, perDay),
            caution: p.tailCaution,
          }),
      ),
      // Dispersion: mean squared deviation per unit of expected cost (compound Poisson: E[X²]/E[X] of one call).
      dev: { sq: 0, e: 0 },
      probation: cadence.rows(p.probationHours, 0, 1_000_000),
      episode: new Episode({
        threshold: p.threshold,
        release: p.release * p.threshold,
        resolveRows: cadence.rows(p.resolveHours, 1, 100_000),
      }),
      rows: 0,
    };
  }

  const directed = (zv: number) => (p.direction === "both" ? Math.abs(zv) : p.direction === "up" ? Math.max(zv, 0) : Math.max(-zv, 0));

  function step(s: ReturnType<typeof build>, x: number, at: Date): number {
    const { value: e, base, key } = s.profile.expected(at);
    const dispersion = s.dev.e > 0 ? s.dev.sq / s.dev.e : Math.max(Math.abs(x), 1e-12);
    let pMin = 1;
    const spanZ: ({ excess: number; expected: number; poisson: number } | undefined)[] = [];
    s.spans.forEach((span, k) => {
      span.push(x, e);
      if (!span.full || !s.profile.ready) return;
      const excess = span.sumActual - span.sumExpected;
      const expected = Math.max(span.sumExpected, 0);
      const poisson = expected * dispersion;
      // Variance: the calls' noise (E·d), the profile's own error (c²E²) and a floor (FLOOR·d²).
      const zv = directed(excess / Math.sqrt(poisson + span.relative * expected * expected + FLOOR * dispersion * dispersion));
      spanZ[k] = { excess, expected, poisson };
      const tail = s.tails[k]!;
      const pv = tail.pValue(zv);
      if (pv >= LEARN_RISK) tail.learn(zv);
      pMin = Math.min(pMin, pv);
    });
    const anomalous = pMin < LEARN_RISK;
    if (!anomalous)
      s.spans.forEach((span, k) => {
        const z = spanZ[k];
        if (!z || z.expected <= 0) return;
        span.learned++;
        span.learnError(z.excess, z.expected, z.poisson, Math.max(1 / span.learned, 1 / Math.max(s.tails[k]!.size, 1), 1e-4));
      });
    if (!anomalous && base > 0) {
      // Exponential memory of about a week of rows.
      const a = 1 / Math.max(s.tails[0]!.size, 1);
      const r = Math.max(a, 1e-4);
      s.dev.sq += ((x - e) ** 2 - s.dev.sq) * r;
      s.dev.e += (e - s.dev.e) * r;
    } else if (s.dev.e === 0) {
      s.dev.sq = (x - e) ** 2 || s.dev.sq;
      s.dev.e = e || s.dev.e;
    }
    s.profile.learn(x, at, base, anomalous, key);
    s.rows++;
    const score = s.episode.next(likelihoodScore(Math.min(1, pMin * s.spans.length), p.scoreHalfDecades));
    return s.rows <= s.probation ? 0 : score;
  }

  return {
    score(value, at) {
      if (m) return step(m, value, at);
      cadence.observe(at);
      pending.push([value, at]);
      if (!cadence.known) return 0;
      m = build();
      for (const [v, t] of pending) step(m, v, t);
      pending.length = 0;
      return 0;
    },
  };
}
