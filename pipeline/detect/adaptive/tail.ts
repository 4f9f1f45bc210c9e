// Calibration: turns a feature's raw surprise (a robust z, in units of the
// series' own spread) into a tail probability learned from that feature's own
// history on this series. The body of the distribution is read empirically;
// beyond its (1 − tailShare) quantile a generalised Pareto tail is fitted to
// the excesses (peaks over threshold, as in SPOT, Siffer et al. 2017), so a
// probability far smaller than 1/history is still graded and comparable
// across series of any scale or burstiness.
import { SortedWindow } from "./sorted-window.ts";

export interface TailOptions {
  /** How many past values of the feature the calibration remembers. */
  history: number;
  /** Share of the history treated as the tail. */
  tailShare: number;
  /** Smallest spread of the excesses, in z units: a series that never moved does not make every wobble impossible. */
  minScale: number;
  /** Values needed before any probability below 1 is given. */
  minHistory: number;
  /** Largest tail shape fitted (0: an exponential tail; default 0.5). */
  maxShape?: number;
}

export class TailModel {
  private readonly seen: SortedWindow;
  private u = 0;
  private xi = 0;
  private sigma = 1;
  private sinceFit = Infinity;

  constructor(private readonly o: TailOptions) {
    this.seen = new SortedWindow(o.history);
  }

  get size(): number {
    return this.seen.size;
  }

  /** P(feature ≥ r) on this series. */
  pValue(r: number): number {
    if (this.seen.size < this.o.minHistory) return 1;
    if (this.sinceFit >= 16) this.fit();
    if (r <= this.u) return Math.max(this.o.tailShare, this.seen.shareAtLeast(r));
    const t = (r - this.u) / this.sigma;
    const tail = this.xi < 1e-6 ? Math.exp(-t) : Math.pow(1 + this.xi * t, -1 / this.xi);
    return this.o.tailShare * tail;
  }

  learn(r: number): void {
    this.seen.push(r);
    this.sinceFit++;
  }

  /** Method-of-moments GPD fit; the shape is kept in [0, 0.5] so the tail is never bounded and never absurdly heavy. */
  private fit(): void {
    this.sinceFit = 0;
    this.u = this.seen.quantile(1 - this.o.tailShare);
    const { count, mean, variance } = this.seen.excessesOver(this.u);
    if (count < 3 || mean <= 0) {
      this.xi = 0;
      this.sigma = this.o.minScale;
      return;
    }
    const ratio = variance > 0 ? (mean * mean) / variance : 1;
    this.xi = Math.min(this.o.maxShape ?? 0.5, Math.max(0, 0.5 * (1 - ratio)));
    // A tail kept exponential (maxShape 0) takes the mean excess as its scale.
    this.sigma = Math.max(this.o.minScale, this.o.maxShape === 0 ? mean : 0.5 * mean * (ratio + 1));
  }
}
