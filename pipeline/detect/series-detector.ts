// What every statistical detector in the registry is: a scorer of one series,
// value after value. The live engine runs one per window series (scope + key)
// on window costs; `costline detect` runs one over a CSV. Same code, same
// inputs, so a replay is a backtest of what the stage would have done.

export interface SeriesDetector {
  /** Anomaly score in [0, 1] for `value`, from history only; then learns it. */
  score(value: number, at: Date): number;
  /**
   * Optional: the score `value` would get now, without learning it. The live
   * engine uses it on open windows (a partial window judged before it
   * closes); a detector without it leaves open windows to the robust-z gate.
   */
  peek?(value: number, at: Date): number;
}
