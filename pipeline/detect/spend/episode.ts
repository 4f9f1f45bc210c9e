// One alert per incident. A row whose score reaches the threshold opens an
// episode (the alert); the episode stays open, every row of it reported at
// least at the threshold, until the evidence has stayed below the release
// level for a while (hysteresis: one run of flagged rows, then a resolve
// once the series is normal again). A flag that flickers on and off through
// a long incident would be several alerts to anyone counting runs, and the
// live alert book merges the rows of one open alert the same way.

export interface EpisodeOptions {
  /** Score that opens an episode (the alert). */
  threshold: number;
  /** Score below which a row counts as normal again. */
  release: number;
  /** Consecutive normal rows that close an episode. */
  resolveRows: number;
}

export class Episode {
  private open = false;
  private quiet = 0;

  constructor(private readonly o: EpisodeOptions) {}

  /** True while an episode is open. */
  get active(): boolean {
    return this.open;
  }

  /** The score to report for a row scored `score`: itself outside an episode, at least the threshold inside one. */
  next(score: number): number {
    if (this.open) {
      this.quiet = score < this.o.release ? this.quiet + 1 : 0;
      if (this.quiet < this.o.resolveRows) return Math.max(score, this.o.threshold);
      this.open = false;
      return score;
    }
    if (score >= this.o.threshold) {
      this.open = true;
      this.quiet = 0;
    }
    return score;
  }
}
