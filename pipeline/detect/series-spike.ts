// The spike and seasonal series detectors: robust z of a value (either
// direction) against the median and MAD of its history, mapped to [0, 1] by
// a logistic curve. Seasonal compares with the same hour of day on earlier
// days once there are enough of them.
import * as z from "zod";
import { Ring, mad, median, robustZ } from "./robust.ts";
import type { SeriesDetector } from "./series-detector.ts";

export const spikeParamsSchema = z.object({
  /** Rows of history kept. */
  history: z.number().int().min(2).default(800),
  /** Rows seen before anything scores above 0 (probation). */
  minHistory: z.number().int().min(1).default(30),
  /** The robust z that scores 0.5. */
  midZ: z.number().positive().default(4),
  /** Rows after a high score during which scores are halved, so one episode scores high once. */
  cooldown: z.number().int().min(0).default(50),
  /** A score at or above this is an anomaly. */
  threshold: z.number().min(0).max(1).default(0.5),
});
export type SpikeParams = z.infer<typeof spikeParamsSchema>;

export const seasonalParamsSchema = spikeParamsSchema.extend({
  /** Earlier days with this hour needed before the seasonal baseline applies. */
  minDays: z.number().int().min(1).default(5),
});
export type SeasonalParams = z.infer<typeof seasonalParamsSchema>;

const logistic = (x: number) => 1 / (1 + Math.exp(-x));

export function spikeSeries(params: Partial<SpikeParams> = {}): SeriesDetector {
  const p = spikeParamsSchema.parse(params);
  const history = new Ring(p.history);
  let quiet = 0;
  const raw = (value: number) => {
    const xs = history.values();
    if (xs.length < p.minHistory) return 0;
    const m = median(xs);
    const s = logistic(Math.abs(robustZ(value, m, mad(xs, m), 0.01)) - p.midZ);
    return quiet > 0 ? s * 0.5 : s;
  };
  return {
    peek: (value) => raw(value),
    score(value) {
      const s = raw(value);
      if (s >= 0.5) quiet = p.cooldown;
      else if (quiet > 0) quiet--;
      history.push(value);
      return s;
    },
  };
}

export function seasonalSeries(params: Partial<SeasonalParams> = {}): SeriesDetector {
  const p = seasonalParamsSchema.parse(params);
  const base = spikeSeries(p);
  const byHour = new Map<number, Ring>();
  const seasonal = (value: number, at: Date, global: number) => {
    const xs = byHour.get(at.getUTCHours())?.values() ?? [];
    if (xs.length < p.minDays) return global;
    const m = median(xs);
    return Math.min(global, logistic(Math.abs(robustZ(value, m, mad(xs, m), 0.02)) - 6));
  };
  return {
    peek: (value, at) => seasonal(value, at, base.peek!(value, at)),
    score(value, at) {
      const s = seasonal(value, at, base.score(value, at));
      const h = at.getUTCHours();
      let ring = byHour.get(h);
      if (!ring) byHour.set(h, (ring = new Ring(28)));
      ring.push(value);
      return s;
    },
  };
}
