// How the ensemble's calibrated features become one score, and how one
// episode is kept to one report.

/**
 * The second-smallest p-value: a row is as unusual as the second most
 * surprised feature says, so one feature's idiosyncrasy (a step on a noisy
 * series, a profile still thin) never alerts alone; a real incident moves
 * the level and the profile, or the level and the step, together.
 */
export function agreedPValue(ps: number[]): number {
  if (ps.length === 0) return 1;
  ps.sort((a, b) => a - b);
  return ps[1] ?? ps[0]!;
}

/**
 * The same agreement over families of features: each family counts once,
 * with its most surprised member's p. Two features that read the same
 * evidence (the hour-of-day and the hour-of-week profile both compare the
 * value with that hour's history) agreeing is one witness, not two.
 * `family[i]` is feature i's family; `ps` holds [feature index, p] pairs.
 */
export function agreedFamilyPValue(ps: readonly (readonly [number, number])[], family: readonly number[]): number {
  const best = new Map<number, number>();
  for (const [i, pv] of ps) {
    const f = family[i] ?? -1 - i;
    const seen = best.get(f);
    if (seen === undefined || pv < seen) best.set(f, pv);
  }
  return agreedPValue([...best.values()]);
}

/** score = 1 − 0.5^(decades / halfDecades): monotone, never saturates, 0.5 at p = 10^−halfDecades. */
export function likelihoodScore(p: number, halfDecades: number): number {
  const decades = -Math.log10(Math.max(p, 1e-300));
  return decades <= 0 ? 0 : 1 - Math.pow(0.5, decades / halfDecades);
}

/**
 * One episode scores once: once a score of at least `floor` was seen, a score
 * that does not exceed every score of the last `rows` rows reads 0, so a level shift or a long burst is reported at
 * its onset (and again only when it worsens), not on every row until the
 * baselines catch up.
 */
export function refractory(rows: number, floor: number): (score: number) => number {
  const recent = new Float64Array(Math.max(1, rows));
  let i = 0;
  return (s) => {
    let peak = 0;
    for (let j = 0; j < recent.length; j++) if (recent[j]! > peak) peak = recent[j]!;
    recent[i++ % recent.length] = s;
    return s > peak || peak < floor ? s : 0;
  };
}

/**
 * One alert, then quiet: after a score at or above `threshold`, every score of
 * the next `rows` rows is held at 0, however high. The soft rule above still
 * lets a worsening episode report again (and again), which on NAB's series is
 * a run of false positives each time a burst keeps climbing; an alerting
 * system's cooldown does the same. Returns a stateful filter.
 */
export function suppressAfterAlert(rows: number, threshold: number): (score: number) => number {
  let since = Infinity;
  return (s) => {
    since++;
    if (since <= rows) return 0;
    if (s >= threshold) since = 0;
    return s;
  };
}
