// A sliding window of the last `capacity` values kept in sorted order as well,
// so quantiles (median, quartiles) of a long history cost O(1) to read and
// O(capacity) memmove to update — cheap enough to replay 10⁵ rows a second.

export class SortedWindow {
  private readonly ring: Float64Array;
  private readonly sorted: number[] = [];
  private head = 0;

  constructor(readonly capacity: number) {
    this.ring = new Float64Array(Math.max(1, capacity));
  }

  get size(): number {
    return this.sorted.length;
  }

  push(x: number): void {
    if (this.sorted.length === this.ring.length) {
      const old = this.ring[this.head]!;
      this.sorted.splice(this.lowerBound(old), 1);
    }
    this.ring[this.head] = x;
    this.head = (this.head + 1) % this.ring.length;
    this.sorted.splice(this.lowerBound(x), 0, x);
  }

  /** Linear-interpolated quantile, q in [0, 1]; 0 when empty. */
  quantile(q: number): number {
    const n = this.sorted.length;
    if (n === 0) return 0;
    const pos = Math.min(Math.max(q, 0), 1) * (n - 1);
    const lo = Math.floor(pos);
    const hi = Math.min(lo + 1, n - 1);
    return this.sorted[lo]! + (this.sorted[hi]! - this.sorted[lo]!) * (pos - lo);
  }

  /** Share of the window at or above x. */
  shareAtLeast(x: number): number {
    const n = this.sorted.length;
    return n === 0 ? 0 : (n - this.lowerBound(x)) / n;
  }

  /** Mean and variance of the values above the q-quantile (the tail's excesses over it). */
  excessesOver(u: number): { count: number; mean: number; variance: number } {
    let count = 0,
      sum = 0,
      sq = 0;
    for (let i = this.upperBound(u); i < this.sorted.length; i++) {
      const e = this.sorted[i]! - u;
      count++;
      sum += e;
      sq += e * e;
    }
    const mean = count ? sum / count : 0;
    return { count, mean, variance: count > 1 ? Math.max(0, (sq - count * mean * mean) / (count - 1)) : 0 };
  }

  private lowerBound(x: number): number {
    let lo = 0,
      hi = this.sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.sorted[mid]! < x) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  private upperBound(x: number): number {
    let lo = 0,
      hi = this.sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.sorted[mid]! <= x) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}
