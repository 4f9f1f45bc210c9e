// Labeled cost-incident series: per-minute spend of one tenant's LLM traffic
// with a daily shape (quiet nights, a working-day peak), quieter weekends,
// Poisson call arrivals and a heavy-tailed (lognormal) cost per call, at one
// of three spend levels (a hobby app where many minutes cost nothing, a
// product, a large tenant). Each series starts with clean history and then
// gets incidents of the five kinds, each with the window in which a detector
// must flag it; days without any incident are the clean days on which every
// alert is a false one.
import { rng, type Rng } from "./prng.ts";

export const INCIDENT_KINDS = ["spike", "runaway_loop", "model_switch", "slow_creep", "night_burst"] as const;
export type IncidentKind = (typeof INCIDENT_KINDS)[number];

export const SPEND_LEVELS = {
  // peak calls per minute and mean cost per call in USD
  low: { peakCalls: 0.6, costPerCall: 0.004 },
  mid: { peakCalls: 25, costPerCall: 0.012 },
  high: { peakCalls: 900, costPerCall: 0.02 },
} as const;
export type SpendLevel = keyof typeof SPEND_LEVELS;

export interface Incident {
  kind: IncidentKind;
  /** Minute indexes: the incident starts at `start`; a flag in [start, end] detects it. */
  start: number;
  end: number;
}

export interface LabeledSeries {
  name: string;
  level: SpendLevel;
  start: Date;
  values: number[];
  incidents: Incident[];
  /** Day indexes (from the start) that are clean and past the learning days. */
  cleanDays: number[];
}

export interface GenerateOptions {
  seed: number;
  level: SpendLevel;
  /** Days in the series; the first `historyDays` are clean history. */
  days?: number;
  historyDays?: number;
  /** Kinds to inject after the history, one incident per chosen day. */
  kinds?: readonly IncidentKind[];
}

const MIN_PER_DAY = 1440;
/**
 * Automated faults call at a machine's pace, not the tenant's: at least this
 * many extra calls a minute whatever the tenant's human traffic (a retry
 * storm floods; an agent loop or a night batch job makes a call every few
 * seconds). Scaling them by a hobby app's peak alone would make "incidents"
 * of a few calls, less than its normal minute-to-minute variation and no
 * incident anyone would pay for.
 */
const MIN_AUTOMATED_CALLS = { spike: 10, loop: 3, batch: 3 } as const;

/** Relative traffic at minute-of-day m for a profile peaking at `peak` (hours), with a night floor. */
function dailyShape(hour: number, peak: number, night: number, width: number): number {
  const d = Math.min(Math.abs(hour - peak), 24 - Math.abs(hour - peak));
  return night + (1 - night) * Math.exp(-(d * d) / (2 * width * width));
}

interface Effect {
  rate: (minute: number, base: number, peakRate: number) => number;
  cost: (minute: number) => number;
}

/** An incident, how it changes traffic, and the minute its effect is over. */
function plan(kind: IncidentKind, day: number, r: Rng, nightHour: number): { incident: Incident; effect: Effect; until: number } {
  const dayStart = day * MIN_PER_DAY;
  const daytime = dayStart + r.int(9 * 60, 16 * 60);
  const none: Effect = { rate: (_m, base) => base, cost: () => 1 };
  switch (kind) {
    case "spike": {
      const len = r.int(3, 10),
        factor = r.between(6, 15);
      const inc = { kind, start: daytime, end: daytime + len + 30 };
      return {
        incident: inc,
        until: daytime + len,
        effect: {
          ...none,
          rate: (m, base, peak) => (m >= daytime && m < daytime + len ? base + Math.max(factor * peak, MIN_AUTOMATED_CALLS.spike) : base),
        },
      };
    }
    case "runaway_loop": {
      // An agent retrying in a loop: calls ramp up over minutes and stay until someone stops it.
      const len = r.int(40, 180),
        extra = r.between(1.5, 4),
        ramp = r.int(3, 15);
      const inc = { kind, start: daytime, end: daytime + 60 };
      const rate = (m: number, base: number, peak: number) =>
        m >= daytime && m < daytime + len
          ? base + Math.max(extra * peak, MIN_AUTOMATED_CALLS.loop) * Math.min(1, (m - daytime + 1) / ramp)
          : base;
      return { incident: inc, until: daytime + len, effect: { ...none, rate } };
    }
    case "model_switch": {
      // A deploy moves traffic to a pricier model: same calls, each costs more, until it is rolled back.
      const len = r.int(6 * 60, 14 * 60),
        factor = r.between(2.5, 6);
      const inc = { kind, start: daytime, end: daytime + 120 };
      return { incident: inc, until: daytime + len, effect: { ...none, cost: (m) => (m >= daytime && m < daytime + len ? factor : 1) } };
    }
    case "slow_creep": {
      // Prompts growing turn by turn: cost per call rises linearly over hours.
      const start = dayStart + r.int(6 * 60, 10 * 60);
      const len = r.int(4 * 60, 8 * 60),
        top = r.between(3, 5);
      const inc = { kind, start, end: start + len + 60 };
      const cost = (m: number) => (m < start || m >= start + len + 120 ? 1 : 1 + (top - 1) * Math.min(1, (m - start) / len));
      return { incident: inc, until: start + len + 120, effect: { ...none, cost } };
    }
    case "night_burst": {
      const start = dayStart + ((nightHour * 60 + r.int(-60, 60) + MIN_PER_DAY) % MIN_PER_DAY);
      const len = r.int(20, 90),
        level = r.between(0.6, 1.5);
      const inc = { kind, start, end: start + 60 };
      return {
        incident: inc,
        until: start + len,
        effect: {
          ...none,
          rate: (m, base, peak) => (m >= start && m < start + len ? base + Math.max(level * peak, MIN_AUTOMATED_CALLS.batch) : base),
        },
      };
    }
  }
}

export function generateSeries(o: GenerateOptions): LabeledSeries {
  const r = rng(o.seed);
  const days = o.days ?? 14;
  const historyDays = o.historyDays ?? 7;
  const kinds = o.kinds ?? INCIDENT_KINDS;
  const spend = SPEND_LEVELS[o.level];
  const peakCalls = spend.peakCalls * r.between(0.5, 2);
  const costPerCall = spend.costPerCall * r.between(0.5, 2);
  const sigma = r.between(0.6, 1.1); // spread of log cost per call (prompt sizes vary a lot)
  const peakHour = r.between(11, 17);
  const width = r.between(3, 5);
  const night = r.between(0.03, 0.15);
  const weekend = r.between(0.35, 0.8);
  const nightHour = Math.round(peakHour + 12) % 24;
  const start = new Date(Date.UTC(2026, 0, 5 + r.int(0, 6))); // any weekday start

  // Incident days: after the history, spaced with clean days between them.
  const incidentDays: number[] = [];
  const free = Array.from({ length: days - historyDays }, (_, i) => historyDays + i);
  for (const _ of kinds) {
    if (free.length === 0) break;
    incidentDays.push(free.splice(r.int(0, free.length - 1), 1)[0]!);
  }
  const planned = kinds.slice(0, incidentDays.length).map((k, i) => plan(k, incidentDays[i]!, r, nightHour));
  // A day is not clean while an incident's effect lasts or the series recovers from it (2 h).
  const dirty = new Set<number>();
  for (const { incident, until } of planned)
    for (let d = Math.floor(incident.start / MIN_PER_DAY); d <= Math.floor((until + 120) / MIN_PER_DAY); d++) dirty.add(d);

  const mu = Math.log(costPerCall) - (sigma * sigma) / 2; // lognormal with mean costPerCall
  const values: number[] = new Array(days * MIN_PER_DAY);
  // Slow day-to-day drift of demand (a random walk in log space), as real traffic has.
  let drift = 0;
  for (let m = 0; m < values.length; m++) {
    if (m % MIN_PER_DAY === 0) drift = Math.max(-0.25, Math.min(0.25, drift + 0.05 * r.normal()));
    const at = new Date(start.getTime() + m * 60_000);
    const dow = at.getUTCDay();
    const hour = at.getUTCHours() + at.getUTCMinutes() / 60;
    const peakRate = peakCalls * Math.exp(drift) * (dow === 0 || dow === 6 ? weekend : 1);
    let rate = peakRate * dailyShape(hour, peakHour, night, width) * Math.exp(0.1 * r.normal());
    let cost = 1;
    for (const { effect } of planned) {
      rate = effect.rate(m, rate, peakRate);
      cost *= effect.cost(m);
    }
    const calls = r.poisson(rate);
    let total = 0;
    if (calls <= 30) for (let c = 0; c < calls; c++) total += Math.exp(mu + sigma * r.normal());
    else {
      const mean = costPerCall,
        variance = costPerCall * costPerCall * (Math.exp(sigma * sigma) - 1);
      total = Math.max(0, calls * mean + Math.sqrt(calls * variance) * r.normal());
    }
    values[m] = total * cost;
  }
  const cleanDays = Array.from({ length: days }, (_, d) => d).filter((d) => d >= 1 && !dirty.has(d));
  return {
    name: `${o.level}-${o.seed}`,
    level: o.level,
    start,
    values,
    incidents: planned.map((p) => p.incident),
    cleanDays,
  };
}

export function toCsv(s: LabeledSeries): string {
  const rows = ["timestamp,value"];
  for (let m = 0; m < s.values.length; m++) {
    const t = new Date(s.start.getTime() + m * 60_000).toISOString().replace("T", " ").slice(0, 19);
    rows.push(`${t},${s.values[m]!.toFixed(6)}`);
  }
  return `${rows.join("\n")}\n`;
}
