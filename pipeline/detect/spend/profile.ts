// What a spend series is expected to cost per row at a given time: the hour's
// mean on earlier days of the same kind (weekdays apart from weekends, as
// traffic differs), trimmed so one bad day does not move it, interpolated
// between hours, and scaled by how the last day of that kind ran against
// that profile (demand drifts).

const WEEKEND = (at: Date) => (at.getUTCDay() === 0 || at.getUTCDay() === 6 ? 1 : 0);

export class SpendProfile {
  /** [dayType][hour] → means of that hour on the last days of that type. */
  private readonly days: number[][][] = [0, 1].map(() => Array.from({ length: 24 }, () => []));
  private hourKey: number | undefined;
  private hourSum = 0;
  private hourRows = 0;
  private hourExpected = 0;
  private hourAnomalous = false;
  private hourRatioKey = 0;
  /**
   * The last hours' (actual, expected) sums, anomalous hours left out, per
   * drift key: day type × whether the other day type stood in. A first
   * weekend read against weekdays runs at its own ratio, and Monday does
   * not inherit it.
   */
  private readonly recent: [number, number][][] = [[], [], [], []];
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

  /** The profile's mean per row of an hour of a day type; the other day type stands in (flagged) until this one is known. */
  private hourMean(type: number, hour: number): { mean: number; standIn: boolean } | undefined {
    const own = this.typical(type, hour);
    if (own !== undefined) return { mean: own, standIn: false };
    const other = this.typical(1 - type, hour);
    return other === undefined ? undefined : { mean: other, standIn: true };
  }

  /**
   * The profile's mean per row at `at` before the drift ratio, undefined
   * until ready: interpolated between the means of the hours around it
   * (each hour's mean stands at its middle), so a ramp is not a staircase.
   */
  private base(at: Date): { mean: number; standIn: boolean } | undefined {
    const t = at.getUTCHours() + at.getUTCMinutes() / 60 - 0.5;
    const h0 = Math.floor(t);
    const f = t - h0;
    // The day type of the hour itself: the first hours of Saturday follow Friday's last ones.
    const typeOf = (h: number) => WEEKEND(new Date(at.getTime() + (h - at.getUTCHours()) * 3_600_000));
    const a = this.hourMean(typeOf(h0), h0);
    const b = this.hourMean(typeOf(h0 + 1), h0 + 1);
    if (a === undefined || b === undefined) return a ?? b;
    return { mean: a.mean + (b.mean - a.mean) * f, standIn: a.standIn || b.standIn };
  }

  get ready(): boolean {
    return this.overall.rows > 0;
  }

  /** How the recent hours of this drift key ran against the profile (else those of the other day type's own profile), within ×0.5–×2. */
  ratio(key: number): number {
    const list = this.recent[key]!.length ? this.recent[key]! : this.recent[(key ^ 2) & 2]!;
    let a = 0,
      e = 0;
    for (const [x, y] of list) {
      a += x;
      e += y;
    }
    return e > 0 ? Math.min(2, Math.max(0.5, a / e)) : 1;
  }

  /**
   * Expected value per row at `at`: the profile times its drift ratio, else
   * the mean so far (`base` 0). `base` is the profile's value before the
   * ratio, `key` the drift key the row teaches.
   */
  expected(at: Date): { value: number; base: number; key: number } {
    const b = this.base(at);
    if (b === undefined) return { value: this.overall.rows ? this.overall.sum / this.overall.rows : 0, base: 0, key: 0 };
    const key = WEEKEND(at) * 2 + (b.standIn ? 1 : 0);
    return { value: b.mean * this.ratio(key), base: b.mean, key };
  }

  /**
   * Learns one row (`base`: the profile's value for it before the drift
   * ratio, 0 while the profile is not ready); `anomalous` rows count in the
   * hour's mean but keep that hour out of the drift ratio.
   */
  learn(x: number, at: Date, base: number, anomalous: boolean, ratioKey = 0): void {
    const hour = Math.floor(at.getTime() / 3_600_000);
    if (this.hourKey !== undefined && hour !== this.hourKey) this.closeHour();
    if (this.hourKey !== hour) {
      this.hourKey = hour;
      this.hourSum = this.hourRows = this.hourExpected = 0;
      this.hourAnomalous = false;
    }
    this.hourSum += x;
    this.hourRows++;
    this.hourExpected += base;
    this.hourAnomalous ||= anomalous;
    this.hourRatioKey = ratioKey;
    this.overall.sum += x;
    this.overall.rows++;
  }

  private closeHour(): void {
    const at = new Date(this.hourKey! * 3_600_000);
    const list = this.days[WEEKEND(at)]![at.getUTCHours()]!;
    list.push(this.hourSum / this.hourRows);
    if (list.length > this.keepDays) list.shift();
    if (!this.hourAnomalous && this.hourExpected > 0) {
      const list = this.recent[this.hourRatioKey]!;
      list.push([this.hourSum, this.hourExpected]);
      if (list.length > this.ratioHours) list.shift();
    }
  }
}
