// The adaptive detector's contract: defaults, a score in [0, 1] from history
// only, the same scores whatever the series' scale, and its building blocks
// (sorted window quantiles, tail calibration) against plain computations.
import { describe, expect, it } from "vitest";
import { adaptiveParamsSchema, createAdaptive } from "../../pipeline/detect/adaptive/index.ts";
import { SortedWindow } from "../../pipeline/detect/adaptive/sorted-window.ts";
import { TailModel } from "../../pipeline/detect/adaptive/tail.ts";
import { agreedFamilyPValue, agreedPValue } from "../../pipeline/detect/adaptive/combine.ts";
import { rng } from "../../eval/incidents/prng.ts";

const START = Date.UTC(2026, 0, 5);
const THRESHOLD = adaptiveParamsSchema.parse({}).threshold;

function noisy(n: number, seed: number, scale = 1, spikeAt?: number): number[] {
  const r = rng(seed);
  return Array.from(
    { length: n },
    (_, i) => scale * (10 + 2 * Math.sin((2 * Math.PI * i) / 288) + 0.5 * r.normal() + (i === spikeAt ? 12 : 0)),
  );
}

function replay(values: number[], params = {}): number[] {
  const d = createAdaptive(params);
  return values.map((v, i) => d.score(v, new Date(START + i * 300_000)));
}

describe("adaptive detector", () => {
  it("has a default for every parameter, a threshold among them", () => {
    const p = adaptiveParamsSchema.parse({});
    expect(p.threshold).toBe(0.34);
    expect(p.suppressHours).toBe(6);
    expect(() => adaptiveParamsSchema.parse({ threshold: 2 })).toThrow();
  });

  it("scores in [0, 1], flags an injected spike and nothing else on a clean seasonal series", () => {
    const series = noisy(4000, 7, 1, 3000);
    const flagged = (scores: number[], threshold: number) =>
      scores
        .map((s, i) => [s, i] as const)
        .filter(([s]) => s >= threshold)
        .map(([, i]) => i);
    const scores = replay(series);
    for (const s of scores) expect(s >= 0 && s <= 1).toBe(true);
    // At the default threshold (NAB's sweep optimum) one early row, before the daily profile is known, passes too;
    // at 0.4 only the spike does. The trade is measured in docs/detection.md.
    expect(flagged(scores, THRESHOLD)).toEqual([712, 3000]);
    expect(flagged(replay(series, { threshold: 0.4 }), 0.4)).toEqual([3000]);
  });

  it("gives the same scores to a series and the same series a million times larger", () => {
    const a = replay(noisy(2000, 3));
    const b = replay(noisy(2000, 3, 1e6));
    for (let i = 0; i < a.length; i++) expect(b[i]).toBeCloseTo(a[i]!, 6);
  });

  it("scores each row from the rows before it only", () => {
    const full = noisy(1500, 5, 1, 1200);
    const a = replay(full);
    const b = replay(full.slice(0, 1210));
    expect(b).toEqual(a.slice(0, 1210));
  });

  it("stays silent on a flat series and on a series that is mostly zeros", () => {
    expect(Math.max(...replay(new Array(3000).fill(4)))).toBe(0);
    const r = rng(11);
    const sparse = Array.from({ length: 3000 }, () => (r.next() < 0.05 ? r.between(0.5, 2) : 0));
    expect(replay(sparse).filter((s) => s >= THRESHOLD)).toHaveLength(0);
  });

  it("reports a climbing burst once: nothing scores for suppressHours after an alert, then alerts again", () => {
    const xs = noisy(5000, 13);
    // Three spikes, each higher: 20 and 40 minutes after the first (inside the quiet span), then one 8 h later.
    for (const [at, k] of [
      [3000, 12],
      [3004, 16],
      [3008, 20],
      [3096, 20],
    ] as const)
      xs[at] = xs[at]! + k;
    const quiet = replay(xs);
    expect(quiet[3000]).toBeGreaterThanOrEqual(THRESHOLD);
    expect(quiet.slice(3001, 3001 + 72)).toEqual(new Array(72).fill(0));
    expect(quiet[3096]).toBeGreaterThanOrEqual(THRESHOLD);
    // Without the quiet span the higher spikes inside it report again.
    const loud = replay(xs, { suppressHours: 0 });
    expect(loud.slice(3001, 3010).filter((s) => s >= THRESHOLD).length).toBeGreaterThan(0);
  });

  it("with direction up ignores a drop that direction both flags", () => {
    const xs = noisy(4000, 9);
    xs[3000] = xs[3000]! - 12;
    expect(replay(xs)[3000]).toBeGreaterThanOrEqual(THRESHOLD);
    expect(replay(xs, { direction: "up" })[3000]).toBeLessThan(THRESHOLD);
  });
});

describe("sorted window", () => {
  it("keeps the quantiles of the last values", () => {
    const w = new SortedWindow(50);
    const r = rng(1);
    const all: number[] = [];
    for (let i = 0; i < 500; i++) {
      const x = Math.round(r.between(0, 100));
      w.push(x);
      all.push(x);
      const last = all.slice(-50).sort((a, b) => a - b);
      expect(w.quantile(0)).toBe(last[0]);
      expect(w.quantile(1)).toBe(last[last.length - 1]);
      if (last.length === 50) expect(w.quantile(0.5)).toBe((last[24]! + last[25]!) / 2);
    }
  });
});

describe("adaptive detector, residual channel", () => {
  const DAY = 1440;
  // Per-minute series with a strong daily ramp, a 10× spike on day 5 (history with an incident in it)
  // and, on day 8, a rise of `rise` × for two hours just before the peak, where the ramp hides it from the level.
  function ramped(seed: number, rise: number): number[] {
    const r = rng(seed);
    return Array.from({ length: 9 * DAY }, (_, i) => {
      const h = (i % DAY) / 60;
      const shape = 0.05 + 0.95 * Math.exp(-((h - 14) ** 2) / 18);
      const spike = i >= 5 * DAY + 840 && i < 5 * DAY + 850 ? 10 : 1;
      const inc = i >= 8 * DAY + 660 && i < 8 * DAY + 780 ? rise : 1;
      return 100 * shape * spike * inc * (1 + 0.1 * r.normal());
    });
  }
  const replayMinutes = (xs: number[], params = {}) => {
    const d = createAdaptive(params);
    return xs.map((v, i) => d.score(v, new Date(START + i * 60_000)));
  };

  it("flags a sustained 2× rise on the morning ramp that the level features alone miss, and nothing on the clean days", () => {
    for (const seed of [1, 2, 3]) {
      const withRise = ramped(seed, 2);
      const inWindow = (scores: number[]) => Math.max(...scores.slice(8 * DAY + 660, 8 * DAY + 720));
      expect(inWindow(replayMinutes(withRise, { residual: true }))).toBeGreaterThanOrEqual(THRESHOLD);
      expect(inWindow(replayMinutes(withRise, { residual: false }))).toBeLessThan(THRESHOLD);
      const clean = replayMinutes(ramped(seed, 1), { residual: true }).slice(6 * DAY);
      expect(clean.filter((s) => s >= THRESHOLD)).toHaveLength(0);
    }
  });
});

describe("tail model", () => {
  it("gives smaller probabilities further out, calibrated on an exponential sample", () => {
    const t = new TailModel({ history: 5000, tailShare: 0.05, minScale: 0.01, minHistory: 100 });
    const r = rng(2);
    for (let i = 0; i < 5000; i++) t.learn(-Math.log(1 - r.next()));
    expect(t.pValue(Math.log(20))).toBeCloseTo(0.05, 1);
    const p10 = t.pValue(10);
    expect(p10).toBeLessThan(1e-3);
    expect(p10).toBeGreaterThan(1e-6);
    expect(t.pValue(20)).toBeLessThan(p10);
  });
});

describe("agreement over feature families", () => {
  it("counts a family once, with its most surprised member", () => {
    // Features 3 and 5 are one family: their two tiny p are one witness, so the row is as unusual as feature 0 says.
    const family = [0, 1, 2, 3, 4, 3];
    expect(
      agreedFamilyPValue(
        [
          [3, 1e-6],
          [5, 1e-5],
          [0, 0.2],
        ],
        family,
      ),
    ).toBe(0.2);
    expect(agreedPValue([1e-6, 1e-5, 0.2])).toBe(1e-5);
    // Two families agreeing: the second-smallest family p.
    expect(
      agreedFamilyPValue(
        [
          [3, 1e-6],
          [5, 1e-5],
          [0, 1e-4],
          [2, 0.3],
        ],
        family,
      ),
    ).toBe(1e-4);
    // A feature without a family is its own; one witness alone gives its p, none gives 1.
    expect(agreedFamilyPValue([[9, 0.01]], family)).toBe(0.01);
    expect(agreedFamilyPValue([], family)).toBe(1);
  });
});
