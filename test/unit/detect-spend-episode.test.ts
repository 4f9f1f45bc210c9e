// The spend detector's alert hygiene and calibration pieces: an episode is
// one run of flagged rows from its opening score until the evidence has
// been normal for a while, and a span's tail counts the excursions it was
// fitted on and widens its scale when they are few.
import { describe, expect, it } from "vitest";
import { Episode } from "../../pipeline/detect/spend/episode.ts";
import { SpanTail } from "../../pipeline/detect/spend/tail.ts";
import { alerts } from "../../eval/incidents/score.ts";

const run = (e: Episode, scores: number[]) => scores.map((s) => e.next(s));

describe("spend episode", () => {
  const opts = { threshold: 0.4, release: 0.24, resolveRows: 3 };

  it("passes scores through while no episode is open", () => {
    expect(run(new Episode(opts), [0, 0.1, 0.39, 0.2])).toEqual([0, 0.1, 0.39, 0.2]);
  });

  it("holds an opened episode at the threshold while the evidence flickers, and resolves after enough normal rows", () => {
    const e = new Episode(opts);
    // Opens at 0.5; 0.3 and 0.45 are still evidence; two normal rows are not yet a resolve, a third is.
    const out = run(e, [0.5, 0.3, 0.1, 0.1, 0.45, 0.1, 0.1, 0.1, 0.2]);
    expect(out).toEqual([0.5, 0.4, 0.4, 0.4, 0.45, 0.4, 0.4, 0.1, 0.2]);
    expect(e.active).toBe(false);
    // One alert, as a counter of flagged runs (and the live alert book) sees it.
    expect(
      alerts(
        out.map((s) => s >= 0.4),
        1,
      ),
    ).toEqual([[0, 6]]);
  });

  it("opens a new episode only after the last one resolved", () => {
    const e = new Episode(opts);
    const out = run(e, [0.6, 0.1, 0.1, 0.1, 0.7]);
    expect(
      alerts(
        out.map((s) => s >= 0.4),
        1,
      ),
    ).toEqual([
      [0, 2],
      [4, 4],
    ]);
    expect(e.active).toBe(true);
  });
});

describe("spend span tail", () => {
  const opts = { history: 1000, tailShare: 0.02, minScale: 0.25, minHistory: 100 };

  it("gives no probability below 1 before its minimum history", () => {
    const t = new SpanTail({ ...opts, caution: 0 });
    for (let i = 0; i < 99; i++) t.learn(i % 10);
    expect(t.pValue(100)).toBe(1);
  });

  it("counts runs above a level as excursions, oldest first across the ring's wrap", () => {
    const t = new SpanTail({ ...opts, history: 10, minHistory: 1, caution: 0 });
    // 12 values into a ring of 10: the first two (5, 5) fall out.
    for (const v of [5, 5, 0, 3, 3, 0, 0, 4, 0, 3, 3, 3]) t.learn(v);
    expect(t.excursions(1)).toBe(3);
    expect(t.excursions(3.5)).toBe(1);
  });

  it("reads a tail fitted on a few long excursions more cautiously than one fitted on many short ones", () => {
    // The same values, hence the same threshold and mean excess: 40 single-row bumps, or 2 runs of 20 rows.
    const bumpy = (clustered: boolean) => {
      const xs = new Array<number>(1000).fill(0).map((_, i) => (i % 7) / 7);
      for (let k = 0; k < 40; k++) {
        const at = clustered ? (k < 20 ? 100 + k : 600 + k) : 10 + 24 * k;
        // Rising within a run, so a run's values above any level are one excursion.
        xs[at] = clustered ? 3 + Math.floor((k % 20) / 4) * 0.5 : 3 + (k % 5) * 0.5;
      }
      return xs;
    };
    const p = (clustered: boolean, caution: number) => {
      const t = new SpanTail({ ...opts, caution });
      for (const v of bumpy(clustered)) t.learn(v);
      return t.pValue(8);
    };
    // Without caution the order of the values does not matter.
    expect(p(true, 0)).toBeCloseTo(p(false, 0), 12);
    // With it, both are wider than the plain fit, the two-excursion tail three times as wide at z 8.
    expect(p(false, 1)).toBeGreaterThan(p(false, 0));
    expect(p(true, 1)).toBeGreaterThan(3 * p(false, 1));
    expect(p(true, 1)).toBeLessThanOrEqual(0.02);
  });
});
