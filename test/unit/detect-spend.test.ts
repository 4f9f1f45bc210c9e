// The spend detector's contract: defaults, a score in [0, 1] from history
// only, nothing during its learning day, the same flags whatever the
// series' currency scale, upward by default, and its profile's seasonality
// (weekends apart from weekdays, a ramp interpolated) on generated spend.
import { describe, expect, it } from "vitest";
import { createSpend, spendParamsSchema } from "../../pipeline/detect/spend/index.ts";
import { SpendProfile } from "../../pipeline/detect/spend/profile.ts";
import { generateSeries, type LabeledSeries } from "../../eval/incidents/generate.ts";
import { alerts } from "../../eval/incidents/score.ts";
import { seriesDetectorFactory } from "../../pipeline/detect/registry.ts";

const DAY = 1440;

function replay(s: Pick<LabeledSeries, "start" | "values">, params = {}, scale = 1): number[] {
  const d = createSpend(params);
  return s.values.map((v, m) => d.score(v * scale, new Date(s.start.getTime() + m * 60_000)));
}

describe("spend detector", () => {
  it("has defaults for every parameter, rejects invalid ones and is in the registry", () => {
    const p = spendParamsSchema.parse({});
    expect(p).toMatchObject({ threshold: 0.4, direction: "up", spansMinutes: [5, 15, 60, 240] });
    expect(() => spendParamsSchema.parse({ threshold: 2 })).toThrow();
    expect(() => spendParamsSchema.parse({ spansMinutes: [] })).toThrow();
    expect(seriesDetectorFactory("spend").threshold).toBe(0.4);
  });

  it("scores in [0, 1], 0 through its learning day, and flags each generated incident inside its window", () => {
    const s = generateSeries({ seed: 11, level: "mid" });
    const scores = replay(s);
    expect(scores.every((x) => x >= 0 && x <= 1)).toBe(true);
    expect(Math.max(...scores.slice(0, DAY))).toBe(0);
    for (const inc of s.incidents) expect(Math.max(...scores.slice(inc.start, inc.end + 1)), inc.kind).toBeGreaterThanOrEqual(0.4);
  });

  it("raises at most 0.1 alerts a day on clean fortnights with weekends, drift and quiet nights", () => {
    let raised = 0,
      days = 0;
    for (const level of ["low", "mid", "high"] as const) {
      const s = generateSeries({ seed: 5, level, kinds: [] });
      // An alert: a run of flagged rows, runs within 30 minutes merged (as eval:incidents counts them).
      raised += alerts(
        replay(s).map((x) => x >= 0.4),
        30,
      ).length;
      days += s.cleanDays.length;
    }
    expect(days).toBe(39);
    expect(raised).toBeLessThanOrEqual(0.1 * days);
  });

  it("gives the same flags whatever the unit of money", () => {
    const s = generateSeries({ seed: 3, level: "high" });
    const flags = (xs: number[]) => xs.map((x) => x >= 0.4);
    expect(flags(replay(s, {}, 1000))).toEqual(flags(replay(s)));
  });

  it("looks up only by default; down or both catch a fall in spend", () => {
    const s = generateSeries({ seed: 8, level: "high", kinds: [] });
    const drop = { start: s.start, values: s.values.map((v, m) => (m >= 10 * DAY + 600 && m < 10 * DAY + 720 ? v * 0.1 : v)) };
    const peak = (xs: number[]) => Math.max(...xs.slice(10 * DAY + 600, 10 * DAY + 720));
    expect(peak(replay(drop))).toBeLessThan(0.4);
    expect(peak(replay(drop, { direction: "down" }))).toBeGreaterThanOrEqual(0.4);
    expect(peak(replay(drop, { direction: "both" }))).toBeGreaterThanOrEqual(0.4);
  });
});

describe("spend profile", () => {
  const hourly = (p: SpendProfile, from: number, days: number, perRow: (at: Date) => number) => {
    for (let m = 0; m < days * DAY; m++) {
      const at = new Date(from + m * 60_000);
      p.learn(perRow(at), at, 0, false);
    }
  };

  it("keeps weekends apart from weekdays and interpolates between hours", () => {
    const p = new SpendProfile(7, 2, 24);
    const monday = Date.UTC(2026, 0, 5);
    // Weekdays cost 10 a row at 10:00–10:59 and 20 at 11:00–11:59; weekends a tenth of that.
    const cost = (at: Date) => (at.getUTCHours() === 11 ? 20 : 10) * (at.getUTCDay() % 6 === 0 ? 0.1 : 1);
    hourly(p, monday, 14, cost);
    const at = (day: number, h: number, min: number) => new Date(monday + day * 86_400_000 + h * 3_600_000 + min * 60_000);
    expect(p.expected(at(14, 10, 30)).value).toBeCloseTo(10, 6);
    expect(p.expected(at(14, 11, 0)).value).toBeCloseTo(15, 6);
    expect(p.expected(at(19, 10, 30)).value).toBeCloseTo(1, 6);
  });

  it("is not ready to profile before its minimum days and stands on the mean so far", () => {
    const p = new SpendProfile(7, 2, 24);
    hourly(p, Date.UTC(2026, 0, 5), 1, () => 4);
    const e = p.expected(new Date(Date.UTC(2026, 0, 6, 12)));
    expect(e).toMatchObject({ value: 4, base: 0 });
  });
});
