// What a spend series is expected to cost per row at a given time: the hour's
// mean on earlier days of the same kind (weekdays apart from weekends, as
// traffic differs), the median over days so one bad day does not move it,
// smoothed with the neighbouring hours so a thin hour is not noise, and
// scaled by how the last day ran against that profile (demand drifts).

const WEEKEND = (at: Date) => (at.getUTCDay() === 0 || at.getUTCDay() === 6 ? 1 : 0);

export class SpendProfile {
  /** [dayType][hour] → means of that hour on the last days of that type. */
  private readonly days: number[][][] = [0, 1].map(() => Array.from({ length: 24 }, () => []));
  private hourKey: number | undefined;
  private hourSum = 0;
  private hourRows = 0;
  private hourExpected = 0;
  private hourAnomalous = false;
  /** The last hours' (actual, expected) sums, anomalous hours left out. */
  private readonly recent: [number, number][] = [];
  private overall = { sum: 0, rows: 0 };

  constructor(
    private readonly keepDays: number,
    private readonly minDays: number,
    private readonly ratioHours: number,
  ) {}

  /**
   * The hour's mean over the kept days, the highest and lowest day left out
   * once there are four: one incident day does not move it, and unlike a
   * median it is not biased low on skewed spend.
   */
  private typical(type: number, hour: number): number | undefined {
    const xs = this.days[type]![(hour + 24) % 24]!;
    if (xs.length < this.minDays) return undefined;
    const s = [...xs].sort((a, b) => a - b);
    const kept = s.length >= 4 ? s.slice(1, -1) : s;
    return kept.reduce((a, b) => a + b, 0) / kept.length;
  }

  /** The profile's mean per row of an hour of a day type (the other day type stands in until this one is known). */
  private hourMean(type: number, hour: number): number | undefined {
    return this.typical(type, hour) ?? this.typical(1 - type, hour);
  }

  /**
   * The profile's mean per row at `at` before the drift ratio, undefined
   * until ready: interpolated between the means of the hours around it
   * (each hour's mean stands at its middle), so a ramp is not a staircase.
   */
  private base(at: Date): number | undefined {
    const t = at.getUTCHours() + at.getUTCMinutes() / 60 - 0.5;
    const h0 = Math.floor(t);
    const f = t - h0;
    // The day type of the hour itself: the first hours of Saturday follow Friday's last ones.
    const typeOf = (h: number) => WEEKEND(new Date(at.getTime() + (h - at.getUTCHours()) * 3_600_000));
    const a = this.hourMean(typeOf(h0), h0);
    const b = this.hourMean(typeOf(h0 + 1), h0 + 1);
    if (a === undefined || b === undefined) return a ?? b;
    return a + (b - a) * f;
  }

  get ready(): boolean {
    return this.overall.rows > 0;
  }

  /** How the recent hours ran against the profile, kept within a factor of 2. */
  ratio(): number {
    let a = 0,
      e = 0;
    for (const [x, y] of this.recent) {
      a += x;
      e += y;
    }
    return e > 0 ? Math.min(2, Math.max(0.5, a / e)) : 1;
  }

  /** Expected value per row at `at`: the profile times the drift ratio, else the mean so far. */
  expected(at: Date): { value: number; base: number } {
    const b = this.base(at);
    if (b === undefined) return { value: this.overall.rows ? this.overall.sum / this.overall.rows : 0, base: 0 };
    return { value: b * this.ratio(), base: b };
  }

  /**
   * Learns one row (`base`: the profile's value for it before the drift
   * ratio, 0 while the profile is not ready); `anomalous` rows count in the
   * hour's mean but keep that hour out of the drift ratio.
   */
  learn(x: number, at: Date, base: number, anomalous: boolean): void {
    const key = Math.floor(at.getTime() / 3_600_000);
    if (this.hourKey !== undefined && key !== this.hourKey) this.closeHour();
    if (this.hourKey !== key) {
      this.hourKey = key;
      this.hourSum = this.hourRows = this.hourExpected = 0;
      this.hourAnomalous = false;
    }
    this.hourSum += x;
    this.hourRows++;
    this.hourExpected += base;
    this.hourAnomalous ||= anomalous;
    this.overall.sum += x;
    this.overall.rows++;
  }

  private closeHour(): void {
    const at = new Date(this.hourKey! * 3_600_000);
    const list = this.days[WEEKEND(at)]![at.getUTCHours()]!;
    list.push(this.hourSum / this.hourRows);
    if (list.length > this.keepDays) list.shift();
    if (!this.hourAnomalous && this.hourExpected > 0) {
      this.recent.push([this.hourSum, this.hourExpected]);
      if (this.recent.length > this.ratioHours) this.recent.shift();
    }
  }
}
