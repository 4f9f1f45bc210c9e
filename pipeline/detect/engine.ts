// The detector engine: keeps each series' history (a scope and its key) and
// runs the detectors on every window. Open windows get the early spike check
// only (a partial window that is already far above a whole window's baseline
// is alerted before it closes); final windows run every detector and feed the
// history. Pure: no I/O, the stage wires it to NATS and ClickHouse.
import type { WindowAggregate } from "../../schemas/index.ts";
import { Ring } from "./robust.ts";
import { baselineFor, defaultDetectorConfig, type AlertType, type DetectorConfig, type Finding } from "./detectors.ts";
import { defaultDetectionConfig, type DetectionConfig } from "./cost-checks.ts";
import { defaultSeriesDetector, seriesDetectorFactory } from "./registry.ts";
import { costCheckRows, type CheckInput, type SeriesCore } from "./checks.ts";
import type { SeriesDetector } from "./series-detector.ts";

export interface EngineOptions {
  /** The cost-specific checks' parameters (defaults: the seed thresholds). */
  checks?: DetectorConfig;
  /** The registry name of the series detector the spike check runs per series. */
  detector?: string;
  /** Its parameters, over its live defaults. */
  params?: Record<string, unknown>;
  /** Sensitivity per scope. */
  scopes?: DetectionConfig["scopes"];
  /** Hysteresis of the spike check (see hygieneSchema.clearBelow). */
  clearBelow?: number;
}

const HISTORY = 288;
/**
 * A post with no final window for this long (in event time) is done: its
 * running total is dropped, so a stream of new posts does not grow the
 * detector without bound.
 */
export const POST_IDLE_MS = 24 * 3_600_000;

interface Series extends SeriesCore {
  /** The registry's series detector for this series: scores every final window's cost. */
  scorer: SeriesDetector;
  /** Each check's own state (checks.ts), by the check's position in the table. */
  states: unknown[];
}

export interface Evaluation {
  series: string;
  window: WindowAggregate;
  findings: Finding[];
  /** Detector types that ran on a final window and found nothing: their alerts resolve. */
  clear: AlertType[];
  /** Detector types whose window was neither anomalous nor clearly normal (hysteresis): a resolve waits. */
  hold?: AlertType[];
}

export function seriesId(w: Pick<WindowAggregate, "scope" | "key">): string {
  return `${w.scope}|${Object.entries(w.key)
    .map(([k, v]) => `${k}=${v}`)
    .join(",")}`;
}

export function createEngine(opts: EngineOptions = {}) {
  const config = opts.checks ?? defaultDetectorConfig;
  const detectorName = opts.detector ?? defaultSeriesDetector;
  const scorers = seriesDetectorFactory(detectorName, opts.params, { live: true });
  const detector = { name: detectorName, threshold: scorers.threshold };
  const scopes = opts.scopes ?? {};
  const clearBelow = opts.clearBelow ?? defaultDetectionConfig.hygiene.clearBelow;
  const seriesRows = costCheckRows.filter((r) => r.judge || r.judgeOpen || r.learn);
  const postRows = costCheckRows.filter((r) => r.judgePost);

  const series = new Map<string, Series>();
  /** Posts' running totals, ordered by their last final window (re-inserted on each). */
  const posts = new Map<string, { total: number; lastStart: number }>();
  let newestPostStart = Number.NEGATIVE_INFINITY;

  function get(id: string): Series {
    let s = series.get(id);
    if (!s) {
      s = {
        scorer: scorers.make(),
        costs: new Ring(HISTORY),
        byHour: new Map(),
        days: new Set(),
        states: seriesRows.map((r) => r.state?.(config)),
      };
      series.set(id, s);
    }
    return s;
  }

  function baseline(s: Series, start: Date) {
    const sameHour = s.byHour.get(start.getUTCHours())?.values() ?? [];
    return baselineFor(s.costs.values(), s.days.size >= config.creep.minSeasonalDays + 1 ? sameHour : [], config.creep.minSeasonalDays * 3);
  }

  /** Feeds one window of history without judging it (warm start from the rollups). */
  function learn(w: Pick<WindowAggregate, "scope" | "key" | "window_start" | "cost_usd"> & Partial<WindowAggregate>): void {
    const s = get(seriesId(w));
    s.scorer.score(Number(w.cost_usd), new Date(w.window_start));
    record(s, w as WindowAggregate);
  }

  function record(s: Series, w: WindowAggregate): void {
    const cost = Number(w.cost_usd);
    const start = new Date(w.window_start);
    s.costs.push(cost);
    let hour = s.byHour.get(start.getUTCHours());
    if (!hour) s.byHour.set(start.getUTCHours(), (hour = new Ring(14)));
    hour.push(cost);
    s.days.add(Math.floor(start.getTime() / 86_400_000));
    if (s.days.size > 30) s.days.delete(Math.min(...s.days));
    seriesRows.forEach((r, i) => r.learn?.({ w, cost }, s.states[i]));
  }

  function evaluatePost(id: string, w: WindowAggregate): Evaluation {
    if (!w.final) return { series: id, window: w, findings: [], clear: [] };
    const start = Date.parse(w.window_start);
    const p = posts.get(id) ?? { total: 0, lastStart: start };
    posts.delete(id);
    p.total += Number(w.cost_usd);
    p.lastStart = Math.max(p.lastStart, start);
    posts.set(id, p);
    newestPostStart = Math.max(newestPostStart, start);
    const findings: Finding[] = [];
    const clear: AlertType[] = [];
    for (const r of postRows) {
      const f = r.judgePost!(p.total, config);
      if (f) findings.push(f);
      else clear.push(r.type);
    }
    return { series: id, window: w, findings, clear };
  }

  return {
    learn,
    seriesCount: () => series.size + posts.size,

    /** Drops the posts idle for POST_IDLE_MS before the newest post window; returns their series ids. */
    evictIdlePosts(): string[] {
      const out: string[] = [];
      for (const [id, p] of posts) {
        if (p.lastStart >= newestPostStart - POST_IDLE_MS) break;
        posts.delete(id);
        out.push(id);
      }
      return out;
    },

    evaluate(w: WindowAggregate): Evaluation {
      const id = seriesId(w);
      if (w.scope === "post") return evaluatePost(id, w);
      const s = get(id);
      const cost = Number(w.cost_usd);
      const start = new Date(w.window_start);
      const findings: Finding[] = [];
      const input: CheckInput = {
        w,
        cost,
        start,
        series: s,
        config,
        enough: s.costs.length >= config.minHistory,
        base: baseline(s, start),
        sensitivity: scopes[w.scope] ?? {},
        detector,
        clearBelow,
        findings,
      };
      if (!w.final) {
        const scorer = s.scorer;
        // Lazy: a check that does not judge this window does not pay for the detector's peek.
        const peek = scorer.peek ? () => scorer.peek!(cost, start) : undefined;
        seriesRows.forEach((r, i) => {
          const f = r.judgeOpen?.({ ...input, peek }, s.states[i]);
          if (f) findings.push(f);
        });
        return { series: id, window: w, findings, clear: [] };
      }
      // Every final window is scored, so the series detector learns the whole series.
      const score = s.scorer.score(cost, start);
      const ran: AlertType[] = [];
      const hold: AlertType[] = [];
      seriesRows.forEach((r, i) => {
        const v = r.judge?.({ ...input, score }, s.states[i]);
        if (v === undefined) return;
        if (v === "hold") hold.push(r.type);
        else {
          ran.push(r.type);
          if (v) findings.push(v);
        }
      });
      // An anomalous window does not become tomorrow's baseline.
      if (!findings.length) record(s, w);
      return { series: id, window: w, findings, clear: ran.filter((t) => !findings.some((f) => f.type === t)), hold };
    },
  };
}
export type Engine = ReturnType<typeof createEngine>;
export type { DetectorConfig };
