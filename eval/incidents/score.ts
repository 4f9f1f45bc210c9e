// Scores one replayed series against its labels: which incidents were
// flagged inside their windows, and how many alerts fell on clean days. An
// alert is a run of flagged rows, runs closer than `cooldownRows` merged —
// what a notifier with a cooldown would send.
import type { LabeledSeries } from "./generate.ts";

export interface SeriesScore {
  detected: boolean[];
  /** Minutes from each incident's start to its first flag (undefined if missed). */
  delays: (number | undefined)[];
  falseAlerts: number;
  cleanDays: number;
}

export function alerts(flags: readonly boolean[], cooldownRows: number): [number, number][] {
  const out: [number, number][] = [];
  for (let i = 0; i < flags.length; i++) {
    if (!flags[i]) continue;
    const last = out[out.length - 1];
    if (last && i - last[1] <= cooldownRows) last[1] = i;
    else out.push([i, i]);
  }
  return out;
}

export function scoreSeries(s: LabeledSeries, flags: readonly boolean[], cooldownRows = 30): SeriesScore {
  const delays = s.incidents.map((inc) => {
    for (let i = inc.start; i <= inc.end && i < flags.length; i++) if (flags[i]) return i - inc.start;
    return undefined;
  });
  const clean = new Set(s.cleanDays);
  const falseAlerts = alerts(flags, cooldownRows).filter(([first]) => clean.has(Math.floor(first / 1440))).length;
  return { detected: delays.map((d) => d !== undefined), delays, falseAlerts, cleanDays: s.cleanDays.length };
}
