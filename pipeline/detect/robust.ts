// Robust statistics for baselines: median, MAD and the robust z-score, so a
// single past outlier does not move the baseline and noisy series do not page.
import { linearFit } from "../findings/linear-fit.ts";

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return 0;
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Median absolute deviation, scaled (×1.4826) to estimate a standard deviation. */
export function mad(xs: readonly number[], m = median(xs)): number {
  return 1.4826 * median(xs.map((x) => Math.abs(x - m)));
}

/**
 * How many robust standard deviations `x` lies above the median. The spread
 * has a floor (a share of the median) so a perfectly flat history does not
 * turn every wobble into an infinite score.
 */
export function robustZ(x: number, m: number, spread: number, floorShare = 0.05): number {
  const s = Math.max(spread, Math.abs(m) * floorShare, 1e-12);
  return (x - m) / s;
}

export { linearFit };

/** A bounded history of values, oldest dropped first. */
export class Ring {
  private readonly xs: number[] = [];
  constructor(private readonly size: number) {}
  push(x: number): void {
    this.xs.push(x);
    if (this.xs.length > this.size) this.xs.shift();
  }
  values(): readonly number[] {
    return this.xs;
  }
  get length(): number {
    return this.xs.length;
  }
}
