// The detector registry: every name `costline detect --detector`, `--list`
// and the detector stage know. A series detector is a name, a description,
// a zod schema of its parameters (every field defaulted) and a factory; the
// stage runs the configured one on each window series, `costline detect` on
// a CSV or on a tenant's window series rebuilt from the ledger. The
// cost-specific checks (bands on the baseline multiple, efficiency, ROI,
// creep, mix, cost per post, budgets) are listed beside them with their
// parameters: they run on every window whatever series detector is chosen.
//
// Adding a series detector is its file and one entry in `seriesDetectors`;
// adding a cost check is its row in checks.ts (see there).
import * as z from "zod";
import { CostlineError, formatIssues } from "../errors.ts";
import type { SeriesDetector } from "./series-detector.ts";
import { seasonalParamsSchema, seasonalSeries, spikeParamsSchema, spikeSeries } from "./series-spike.ts";
import { costChecksSchema } from "./cost-checks.ts";
import { costCheckTable, type CheckName } from "./checks.ts";
import { adaptiveParamsSchema, createAdaptive } from "./adaptive/index.ts";
import { createSpend, spendParamsSchema } from "./spend/index.ts";

export type { SeriesDetector } from "./series-detector.ts";

export interface SeriesDetectorEntry<S extends z.ZodObject = z.ZodObject> {
  name: string;
  description: string;
  /** Every field defaulted; `threshold` (when present) is the score that counts as an anomaly. */
  params: S;
  create(params?: Partial<z.infer<S>>): SeriesDetector;
  /**
   * Parameters the live engine uses unless configured: window series are
   * shorter and alerts have their own cooldown (alert-book.ts), so e.g. the
   * spike detector's probation and score cooldown differ from a CSV's.
   */
  liveDefaults?: Partial<z.infer<S>>;
}

const entry = <S extends z.ZodObject>(e: SeriesDetectorEntry<S>): SeriesDetectorEntry => e as unknown as SeriesDetectorEntry;

export const seriesDetectors: readonly SeriesDetectorEntry[] = [
  entry({
    name: "spike",
    description: "robust z-score (median and MAD of the recent rows) of each value, either direction, as a logistic score",
    params: spikeParamsSchema,
    create: spikeSeries,
    liveDefaults: { history: 288, minHistory: 12, cooldown: 0 },
  }),
  entry({
    name: "seasonal",
    description: "the spike score, lowered to the same-hour-of-day score once earlier days hold that hour",
    params: seasonalParamsSchema,
    create: seasonalSeries,
    liveDefaults: { history: 288, minHistory: 12, cooldown: 0, minDays: 3 },
  }),
  entry({
    name: "adaptive",
    description:
      "per-series calibrated anomaly likelihood: robust level, step, hour-of-day and hour-of-week baselines and a residual channel, " +
      "each feature's tail fitted on the series' own history (peaks over threshold), two feature families agreeing, one report per episode",
    params: adaptiveParamsSchema,
    create: createAdaptive,
  }),
  entry({
    name: "spend",
    description:
      "sums of a cost series over 5 min to 4 h against its hour-of-day profile (weekdays and weekends apart, scaled by the recent drift), " +
      "each span's excess in compound-Poisson units calibrated on the series' own history, upward by default",
    params: spendParamsSchema,
    create: createSpend,
  }),
];

/** The detector the stage and `costline detect` use when none is named. */
export const defaultSeriesDetector = "spike";

export interface CostCheckEntry {
  name: string;
  description: string;
  /** The check's section of `costChecksSchema` (configuration file: detection.checks.<name>). */
  params: z.ZodObject;
}

/** Every cost check the engine runs (checks.ts), then the budgets' check, which the budget tracker runs. */
export const costChecks: readonly CostCheckEntry[] = [
  ...(Object.keys(costCheckTable) as CheckName[]).map((key) => ({
    name: costCheckTable[key].type,
    description: costCheckTable[key].description,
    params: costChecksSchema.shape[key].unwrap() as z.ZodObject,
  })),
  {
    name: "budget",
    description: "spend crossing a budget's thresholds (50 / 75 / 90 / 100 % by default), and a forecast of running out",
    params: z.object({ thresholds: z.array(z.number()).default([0.5, 0.75, 0.9, 1]) }),
  },
];

export const seriesDetectorNames = (): string[] => seriesDetectors.map((d) => d.name);

export function findSeriesDetector(name: string): SeriesDetectorEntry {
  const d = seriesDetectors.find((x) => x.name === name);
  if (!d) throw new CostlineError(`unknown detector "${name}" (detectors: ${seriesDetectorNames().join(", ")})`);
  return d;
}

/** A detector's parameters: its defaults, then (live) its live defaults, then what was given; validated. */
export function detectorParams(name: string, given: Record<string, unknown> = {}, opts: { live?: boolean } = {}): Record<string, unknown> {
  const d = findSeriesDetector(name);
  const parsed = d.params.safeParse({ ...(opts.live ? d.liveDefaults : {}), ...given });
  if (!parsed.success) throw new CostlineError(`detector "${name}": invalid parameters: ${formatIssues(parsed.error, "params", Infinity)}`);
  return parsed.data as Record<string, unknown>;
}

/** A factory of the named detector with its parameters fixed: one new instance per series. */
export function seriesDetectorFactory(
  name: string,
  given: Record<string, unknown> = {},
  opts: { live?: boolean } = {},
): { make: () => SeriesDetector; threshold: number; params: Record<string, unknown> } {
  const d = findSeriesDetector(name);
  const params = detectorParams(name, given, opts);
  const threshold = typeof params.threshold === "number" ? params.threshold : 0.5;
  return { make: () => d.create(params), threshold, params };
}

/** Defaults of a zod object, as `--list` prints them. */
export function paramDefaults(schema: z.ZodObject): Record<string, unknown> {
  return schema.parse({}) as Record<string, unknown>;
}
