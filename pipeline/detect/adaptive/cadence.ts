// The series' sampling interval, learned from its first timestamps, so every
// window is sized in time (hours, days) and the same parameters fit a
// per-minute spend series and a five-minute metric.

export class Cadence {
  private readonly gaps: number[] = [];
  private last: number | undefined;

  observe(at: Date): void {
    const t = at.getTime();
    if (this.last !== undefined && t > this.last && this.gaps.length < 64) this.gaps.push(t - this.last);
    this.last = t;
  }

  get known(): boolean {
    return this.gaps.length >= 8;
  }

  /** Median gap between rows in ms (5 minutes until known). */
  intervalMs(): number {
    if (this.gaps.length === 0) return 300_000;
    const s = [...this.gaps].sort((a, b) => a - b);
    return s[s.length >> 1]!;
  }

  /** Rows in `hours` hours, clamped to [min, max]. */
  rows(hours: number, min: number, max: number): number {
    return Math.round(Math.min(max, Math.max(min, (hours * 3_600_000) / this.intervalMs())));
  }
}
