// Robust baselines of one series, each read before the new value is learned:
// the recent level (median and quartile spread of a sliding window, which
// follows a level shift within half a window), the step from the previous
// row, and the same hour of day on earlier days (seasonality). Each reports a
// signed z: how many of the series' own spreads the value lies from it.
import { SortedWindow } from "./sorted-window.ts";

/**
 * A spread estimate that survives zero-heavy and bursty windows: the
 * interquartile range, else a wider inter-quantile range when most of the
 * window is one value, else a share of the window's typical magnitude.
 */
export function robustSpread(w: SortedWindow, magnitude: number): number {
  const iqr = (w.quantile(0.75) - w.quantile(0.25)) / 1.349;
  if (iqr > 0) return iqr;
  const wide = (w.quantile(0.95) - w.quantile(0.05)) / 3.29;
  if (wide > 0) return wide;
  const widest = (w.quantile(0.99) - w.quantile(0.01)) / 4.65;
  if (widest > 0) return widest;
  return Math.max(0.01 * magnitude, 1e-9);
}

export class LevelBaseline {
  private readonly w: SortedWindow;
  private readonly ring: Float64Array;
  private absSum = 0;
  private i = 0;

  constructor(capacity: number) {
    this.w = new SortedWindow(capacity);
    this.ring = new Float64Array(capacity);
  }

  get size(): number {
    return this.w.size;
  }

  /** The window's spread, at least `floor` (a share of the long-run spread, so a quiet stretch does not make every blip extreme). */
  spread(floor = 0): number {
    if (this.w.size === 0) return floor;
    const magnitude = this.absSum / this.w.size;
    return Math.max(robustSpread(this.w, magnitude), 1e-3 * magnitude, floor);
  }

  z(x: number, floor = 0): number {
    if (this.w.size < 8) return 0;
    return (x - this.w.quantile(0.5)) / this.spread(floor);
  }

  learn(x: number): void {
    const slot = this.i % this.ring.length;
    if (this.w.size === this.ring.length) this.absSum -= Math.abs(this.ring[slot]!);
    this.ring[slot] = x;
    this.absSum += Math.abs(x);
    this.i++;
    this.w.push(x);
  }
}

/** Size of the step from the previous row against the usual step size. */
export class StepBaseline {
  private readonly steps: SortedWindow;
  private prev: number | undefined;
  private magnitude = 0;

  constructor(capacity: number) {
    this.steps = new SortedWindow(capacity);
  }

  z(x: number, floor = 0): number {
    if (this.prev === undefined || this.steps.size < 8) return 0;
    const d = x - this.prev;
    const typical = this.steps.quantile(0.5) / 0.6745;
    const spread = typical > 0 ? typical : this.steps.quantile(0.9) / 1.645 || this.steps.quantile(0.99) / 2.576;
    return d / Math.max(spread, 1e-3 * this.magnitude, floor, 1e-9);
  }

  learn(x: number): void {
    if (this.prev !== undefined) this.steps.push(Math.abs(x - this.prev));
    this.magnitude = this.magnitude === 0 ? Math.abs(x) : 0.99 * this.magnitude + 0.01 * Math.abs(x);
    this.prev = x;
  }
}

/**
 * Hour-of-day (or hour-of-week) profile: the value against the same hour on
 * earlier days. Ready once `minPerBucket` values of that hour are known.
 */
export class SeasonalBaseline {
  private readonly buckets = new Map<number, { w: SortedWindow; absSum: number; ring: number[] }>();

  constructor(
    private readonly key: (at: Date) => number,
    private readonly capacity: number,
    private readonly minPerBucket: number,
  ) {}

  z(x: number, at: Date, levelSpread: number): number | undefined {
    const b = this.buckets.get(this.key(at));
    if (!b || b.w.size < this.minPerBucket) return undefined;
    const m = b.w.quantile(0.5);
    const magnitude = b.absSum / b.w.size;
    // Floor by a share of the overall spread: a bucket that repeated exactly does not make noise infinite.
    const spread = Math.max(robustSpread(b.w, magnitude), 0.25 * levelSpread, 1e-3 * magnitude, 1e-9);
    return (x - m) / spread;
  }

  /** The bucket's median once the bucket is ready and expects something (not 0: most of that hour idle), else undefined. */
  resolvedMedian(at: Date): number | undefined {
    const b = this.buckets.get(this.key(at));
    if (!b || b.w.size < this.minPerBucket) return undefined;
    const m = b.w.quantile(0.5);
    return m !== 0 ? m : undefined;
  }

  learn(x: number, at: Date): void {
    const k = this.key(at);
    let b = this.buckets.get(k);
    if (!b) this.buckets.set(k, (b = { w: new SortedWindow(this.capacity), absSum: 0, ring: [] }));
    if (b.ring.length === this.capacity) b.absSum -= Math.abs(b.ring.shift()!);
    b.ring.push(x);
    b.absSum += Math.abs(x);
    b.w.push(x);
  }
}
