// Calibration of one span's z: an exponential tail fitted to the top share
// of the span's own z history (peaks over threshold, as in SPOT), with the
// tail's scale widened by how few independent excursions it was fitted on.
// A span's z moves slowly (consecutive sums share all but one row), so the
// 2 % of a day's z above the threshold may be two or three excursions, not
// thirty values: one ordinary expensive call on a quiet night would then sit
// far out in a tail fitted to almost nothing. Counting the runs above the
// threshold (runs declustering) gives the excursions the fit really rests
// on; the scale is widened by 1/√runs, the standard error of an exponential
// mean, so a thin history is read cautiously and a long one almost as is.
import { SortedWindow } from "../adaptive/sorted-window.ts";

export interface SpanTailOptions {
  /** How many past z values the calibration remembers. */
  history: number;
  /** Share of the history treated as the tail. */
  tailShare: number;
  /** Smallest scale of the excesses, in z units. */
  minScale: number;
  /** Values needed before any probability below 1 is given. */
  minHistory: number;
  /** Standard errors of the fitted scale added to it (0: the plain fit). */
  caution: number;
}

export class SpanTail {
  private readonly seen: SortedWindow;
  /** The same values in arrival order, to count excursions. */
  private readonly order: Float64Array;
  private head = 0;
  private u = 0;
  private scale = 1;
  private sinceFit = Infinity;

  constructor(private readonly o: SpanTailOptions) {
    this.seen = new SortedWindow(o.history);
    this.order = new Float64Array(Math.max(1, o.history));
  }

  get size(): number {
    return this.seen.size;
  }

  /** P(z ≥ r) on this span of this series. */
  pValue(r: number): number {
    if (this.seen.size < this.o.minHistory) return 1;
    if (this.sinceFit >= 16) this.fit();
    if (r <= this.u) return Math.max(this.o.tailShare, this.seen.shareAtLeast(r));
    return this.o.tailShare * Math.exp(-(r - this.u) / this.scale);
  }

  learn(r: number): void {
    this.seen.push(r);
    this.order[this.head] = r;
    this.head = (this.head + 1) % this.order.length;
    this.sinceFit++;
  }

  /** Runs of consecutive values above u, oldest first. */
  excursions(u: number): number {
    const n = this.seen.size;
    const first = n < this.order.length ? 0 : this.head;
    let runs = 0,
      above = false;
    for (let i = 0; i < n; i++) {
      const v = this.order[(first + i) % this.order.length]!;
      if (v > u && !above) runs++;
      above = v > u;
    }
    return runs;
  }

  private fit(): void {
    this.sinceFit = 0;
    this.u = this.seen.quantile(1 - this.o.tailShare);
    const { count, mean } = this.seen.excessesOver(this.u);
    if (count < 3 || mean <= 0) {
      this.scale = this.o.minScale;
      return;
    }
    const runs = Math.max(1, this.excursions(this.u));
    this.scale = Math.max(this.o.minScale, mean) * (1 + this.o.caution / Math.sqrt(runs));
  }
}
