// `costline detect`: replays a timestamp,value series (the Numenta Anomaly
// Benchmark's format) through a detector, streaming: each row is scored only
// from the rows before it. Writes timestamp,value,anomaly_score,is_anomaly.
import { createReadStream, createWriteStream } from "node:fs";
import { once } from "node:events";
import { createInterface } from "node:readline";
import { CostlineError } from "../errors.ts";
import { Ring, mad, median, robustZ } from "./robust.ts";
import { adaptiveParamsSchema, createAdaptive } from "./adaptive/index.ts";

export interface SeriesDetector {
  /** Anomaly score in [0, 1] for `value`, from history only; then learns it. */
  score(value: number, at: Date): number;
}

/**
 * The spike detector's statistics on one series: robust z of the value (either
 * direction) against the median and MAD of the recent rows, mapped to [0, 1]
 * by a logistic curve, with a cooldown so one episode scores high once.
 */
export function spikeSeries(opts: { history?: number; minHistory?: number; midZ?: number; cooldown?: number } = {}): SeriesDetector {
  const history = new Ring(opts.history ?? 800);
  const minHistory = opts.minHistory ?? 30;
  const midZ = opts.midZ ?? 4;
  const cooldown = opts.cooldown ?? 50;
  let quiet = 0;
  return {
    score(value) {
      const xs = history.values();
      let s = 0;
      if (xs.length >= minHistory) {
        const m = median(xs);
        const z = Math.abs(robustZ(value, m, mad(xs, m), 0.01));
        s = 1 / (1 + Math.exp(-(z - midZ)));
        if (quiet > 0) s *= 0.5;
      }
      if (s >= 0.5) quiet = cooldown;
      else if (quiet > 0) quiet--;
      history.push(value);
      return s;
    },
  };
}

/** Seasonal variant: the baseline is the same hour of day on earlier days when there are enough. */
export function seasonalSeries(opts: { minDays?: number } = {}): SeriesDetector {
  const minDays = opts.minDays ?? 5;
  const base = spikeSeries();
  const byHour = new Map<number, Ring>();
  return {
    score(value, at) {
      const h = at.getUTCHours();
      let ring = byHour.get(h);
      if (!ring) byHour.set(h, (ring = new Ring(28)));
      const global = base.score(value, at);
      const xs = ring.values();
      ring.push(value);
      if (xs.length < minDays) return global;
      const m = median(xs);
      const z = Math.abs(robustZ(value, m, mad(xs, m), 0.02));
      return Math.min(global, 1 / (1 + Math.exp(-(z - 6))));
    },
  };
}

export const offlineDetectors: Record<string, () => SeriesDetector> = {
  adaptive: () => createAdaptive(),
  spike: () => spikeSeries(),
  seasonal: () => seasonalSeries(),
};

/** Detectors whose alert threshold is their own parameter, not 0.5. */
const offlineThresholds: Record<string, number> = { adaptive: adaptiveParamsSchema.parse({}).threshold };

export async function replaySeries(input: string, output: string, name = "adaptive", threshold = offlineThresholds[name] ?? 0.5): Promise<{ rows: number; anomalies: number }> {
  const make = offlineDetectors[name];
  if (!make) throw new CostlineError(`unknown detector "${name}" (detectors: ${Object.keys(offlineDetectors).join(", ")})`);
  const detector = make();
  const rl = createInterface({ input: createReadStream(input, "utf8"), crlfDelay: Infinity });
  const out = createWriteStream(output);
  out.write("timestamp,value,anomaly_score,is_anomaly\n");
  let line = 0;
  let rows = 0;
  let anomalies = 0;
  for await (const text of rl) {
    line++;
    if (line === 1) {
      if (!/^timestamp,value/i.test(text.trim())) throw new CostlineError(`${input}: expected a "timestamp,value" header, got "${text.slice(0, 60)}"`);
      continue;
    }
    if (text.trim() === "") continue;
    const [ts, raw] = text.split(",");
    const value = Number(raw);
    const at = new Date(`${ts?.trim().replace(" ", "T")}Z`);
    if (!ts || raw === undefined || !Number.isFinite(value) || Number.isNaN(at.getTime()))
      throw new CostlineError(`${input}:${line}: expected "timestamp,value", got "${text.slice(0, 80)}"`);
    const score = detector.score(value, at);
    const flag = score >= threshold ? 1 : 0;
    anomalies += flag;
    rows++;
    if (!out.write(`${ts.trim()},${raw.trim()},${score.toFixed(6)},${flag}\n`)) await once(out, "drain");
  }
  out.end();
  await once(out, "finish");
  return { rows, anomalies };
}
