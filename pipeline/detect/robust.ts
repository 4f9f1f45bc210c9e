// Robust statistics for baselines: median, MAD and the robust z-score, so a
// single past outlier does not move the baseline and noisy series do not page.
import { linearFit } from "../findings/linear-fit.ts";

export function median(xs: readonly number[]): number {
  const n = xs.length;
  if (n === 0) return 0;
  // Selection, not a sort: the detectors take the median of each baseline on every window, and
  // sorting a copy with a comparator was most of their time. On a typed copy, linear on average.
  const a = Float64Array.from(xs);
  const mid = n >> 1;
  const upper = select(a, mid);
  if (n % 2) return upper;
  // Everything left of `mid` is now at most a[mid]: the lower middle is their largest.
  let lower = a[0]!;
  for (let i = 1; i < mid; i++) if (a[i]! > lower) lower = a[i]!;
  return (lower + upper) / 2;
}

/** Reorders `a` so a[k] holds its k-th smallest value, with nothing larger before it (Hoare's selection). */
function select(a: Float64Array, k: number): number {
  let lo = 0;
  let hi = a.length - 1;
  while (lo < hi) {
    const pivot = a[(lo + hi) >> 1]!;
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (a[i]! < pivot) i++;
      while (a[j]! > pivot) j--;
      if (i <= j) {
        const t = a[i]!;
        a[i++] = a[j]!;
        a[j--] = t;
      }
    }
    if (k <= j) hi = j;
    else if (k >= i) lo = i;
    else break;
  }
  return a[k]!;
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
