// The parameters of the cost-specific checks and of alert hygiene, as zod
// schemas with the seed thresholds as defaults. The configuration file's
// `detection` section is parsed with these (pipeline/config/config.ts), and
// `costline detect --list` prints them.
import * as z from "zod";
import { windowScopes } from "../../schemas/index.ts";

const num = (def: number) => z.number().default(def);
const int = (def: number) => z.number().int().min(0).default(def);

export const costChecksSchema = z.object({
  /** Windows of history needed before a series is judged. */
  minHistory: int(12),
  /** Severity bands on the multiple of the baseline; a spike also needs its series detector's score. */
  spike: z.object({ medium: num(3), high: num(3.5), critical: num(5), minZ: num(4), minCostUsd: num(0.01) }).prefault({}),
  efficiency: z.object({ worseBy: num(0.3), minHistory: int(12) }).prefault({}),
  roi: z.object({ floor: num(-0.5), windows: int(6) }).prefault({}),
  creep: z.object({ ratio: num(1.5), recentWindows: int(12), minSeasonalDays: int(2) }).prefault({}),
  mixShift: z.object({ minHistory: int(24), threshold: num(30), minShareChange: num(0.25) }).prefault({}),
  costPerPost: z.object({ multiple: num(2), targetUsd: num(0.05) }).prefault({}),
});
export type DetectorConfig = z.infer<typeof costChecksSchema>;

/**
 * Sensitivity of one scope: the series detector's score threshold, the
 * multiple of the baseline a spike needs (the medium band), the smallest
 * window cost judged, or no statistical alerts at all.
 */
export const scopeSensitivitySchema = z
  .object({
    threshold: z.number().min(0).max(1).optional(),
    spikeMultiplier: z.number().positive().optional(),
    minCostUsd: z.number().min(0).optional(),
    off: z.boolean().optional(),
  })
  .strict();
export type ScopeSensitivity = z.infer<typeof scopeSensitivitySchema>;

/** Alert hygiene: when an alert repeats, resolves, and how findings merge. */
export const hygieneSchema = z.object({
  /** A firing alert is not repeated within this time unless it got more severe (COSTLINE_ALERT_COOLDOWN_S wins when set). */
  cooldownS: int(3600),
  /** Consecutive normal final windows before an alert resolves. */
  resolveWindows: z.number().int().min(1).default(2),
  /**
   * Hysteresis: a spike's series counts as normal again only below this
   * share of the medium band (2/3 of 3× = 2×) and below the score threshold;
   * in between it neither fires nor resolves.
   */
  clearBelow: z
    .number()
    .positive()
    .max(1)
    .default(2 / 3),
});
export type Hygiene = z.infer<typeof hygieneSchema>;

export const detectionSchema = z
  .object({
    /** The series detector of the spike check (a name in pipeline/detect/registry.ts). */
    detector: z.string().min(1).optional(),
    /** Its parameters (validated against its schema when the engine starts). */
    params: z.record(z.string(), z.unknown()).default({}),
    checks: costChecksSchema.prefault({}),
    hygiene: hygieneSchema.prefault({}),
    scopes: z.partialRecord(z.enum(windowScopes), scopeSensitivitySchema).default({}),
  })
  .strict();
export type DetectionConfig = z.infer<typeof detectionSchema>;

export const defaultDetectionConfig: DetectionConfig = detectionSchema.parse({});
