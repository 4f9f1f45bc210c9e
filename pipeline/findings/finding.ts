// What a detector or a budget found abnormal, before it becomes an alert, and
// the identity of an alert's lifecycle. Shared by the detectors and the budgets
// (which the detector stage runs), so neither imports the other for them.
import { createHash } from "node:crypto";
import type { Alert } from "../../schemas/index.ts";

export interface Finding {
  type: Alert["type"];
  severity: Alert["severity"];
  observed: string;
  expected: string;
  multiplier: number | null;
  score: number | null;
  message: string;
  /** What the observed value was compared with, in words (evidence). */
  baseline?: string;
  /** The series detector that scored it (spike findings). */
  detector?: string;
}

/** One alert lifecycle's identity: the same detector type on the same series. */
export const alertFingerprint = (type: string, series: string) =>
  createHash("sha256").update(`${type}|${series}`).digest("hex").slice(0, 32);
