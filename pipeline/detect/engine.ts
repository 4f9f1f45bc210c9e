// The detector engine: keeps each series' history (a scope and its key) and
// runs the detectors on every window. Open windows get the early spike check
// only (a partial window that is already far above a whole window's baseline
// is alerted before it closes); final windows run every detector and feed the
// history. Pure: no I/O, the stage wires it to NATS and ClickHouse.
import type { WindowAggregate } from "../../schemas/index.ts";
import { Ring, median } from "./robust.ts";
import {
  baselineFor,
  costPerPost,
  creep,
  defaultDetectorConfig,
  efficiency,
  mixShift,
  roi,
  shares,
  spike,
  spikeClear,
  zGate,
  type AlertType,
  type DetectorConfig,
  type Finding,
} from "./detectors.ts";
import { defaultDetectionConfig, type DetectionConfig } from "./cost-checks.ts";
import { defaultSeriesDetector, seriesDetectorFactory } from "./registry.ts";
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

interface Series {
  /** The registry's series detector for this series: scores every final window's cost. */
  scorer: SeriesDetector;
  costs: Ring;
  byHour: Map<number, Ring>;
  perKOutput: Ring;
  perRequest: Ring;
  money: Ring[];
  roiHistory: Ring;
  recentMoney: { revenue: number; cost: number }[];
  mix: number[][];
  mixLabels: string[];
  days: Set<number>;
  /** Each recent final window's cost over the median of the same hour on earlier days. */
  hourRatios: Ring;
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
  const scopes = opts.scopes ?? {};
  const clearBelow = opts.clearBelow ?? defaultDetectionConfig.hygiene.clearBelow;

  /** The spike check's bands and gates for one scope, its configured sensitivity applied. */
  function spikeFor(scope: WindowAggregate["scope"]) {
    const sens = scopes[scope] ?? {};
    const c = { ...config.spike };
    if (sens.spikeMultiplier) {
      const k = sens.spikeMultiplier / c.medium;
      c.medium *= k;
      c.high *= k;
      c.critical *= k;
    }
    if (sens.minCostUsd !== undefined) c.minCostUsd = sens.minCostUsd;
    return { c, threshold: sens.threshold ?? scorers.threshold, off: sens.off === true };
  }
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
        perKOutput: new Ring(HISTORY),
        perRequest: new Ring(HISTORY),
        money: [],
        roiHistory: new Ring(HISTORY),
        recentMoney: [],
        mix: [],
        mixLabels: [],
        days: new Set(),
        hourRatios: new Ring(config.creep.recentWindows),
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
    if ((w.output_tokens ?? 0) > 0 && cost > 0) s.perKOutput.push(cost / ((w.output_tokens ?? 0) / 1000));
    if ((w.requests ?? 0) > 0 && cost > 0) s.perRequest.push(cost / (w.requests ?? 1));
    const revenue = Number(w.revenue_usd ?? 0);
    if (cost > 0 && revenue > 0) s.roiHistory.push((revenue - cost) / cost);
  }

  function mixVector(s: Series, w: WindowAggregate): { now: number[]; history: number[][]; labels: string[] } | undefined {
    const labels = [...Object.keys(w.by_model).map((m) => `model:${m}`), ...Object.keys(w.by_operation).map((o) => `operation:${o}`)];
    for (const l of labels) if (!s.mixLabels.includes(l)) s.mixLabels.push(l);
    if (s.mixLabels.length < 2) return undefined;
    const now = shares(w, s.mixLabels);
    // Older vectors lack labels seen later: their share of those was zero.
    const history = s.mix.map((h) => [...h, ...new Array(s.mixLabels.length - h.length).fill(0)]);
    return { now, history, labels: s.mixLabels };
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
      const cost = Number(w.cost_usd);
      if (w.scope === "post") {
        if (!w.final) return { series: id, window: w, findings: [], clear: [] };
        const start = Date.parse(w.window_start);
        const p = posts.get(id) ?? { total: 0, lastStart: start };
        posts.delete(id);
        p.total += cost;
        p.lastStart = Math.max(p.lastStart, start);
        posts.set(id, p);
        newestPostStart = Math.max(newestPostStart, start);
        const f = costPerPost(p.total, config.costPerPost);
        return { series: id, window: w, findings: f ? [f] : [], clear: f ? [] : ["cost_per_post"] };
      }
      const s = get(id);
      const start = new Date(w.window_start);
      const findings: Finding[] = [];
      const ran: AlertType[] = [];
      const judge = (type: AlertType, f: Finding | null) => {
        ran.push(type);
        if (f) findings.push(f);
      };
      const enough = s.costs.length >= config.minHistory;
      const sp = spikeFor(w.scope);
      const base = baseline(s, start);
      if (!w.final) {
        // An open window is judged without being learned: the detector's peek, else the robust-z gate.
        if (enough && !sp.off) {
          const peek = s.scorer.peek;
          const score = peek ? peek.call(s.scorer, cost, start) : zGate(cost, base, sp.c.minZ);
          const f = spike(cost, base, sp.c, {
            score,
            threshold: peek ? sp.threshold : 0.5,
            detector: peek ? detectorName : "robust-z",
            partial: true,
          });
          if (f) findings.push(f);
        }
        return { series: id, window: w, findings, clear: [] };
      }
      // Every final window is scored, so the series detector learns the whole series.
      const score = s.scorer.score(cost, start);
      const hold: AlertType[] = [];
      if (enough && !sp.off) {
        const f = spike(cost, base, sp.c, { score, threshold: sp.threshold, detector: detectorName, partial: false });
        // Hysteresis: between firing and clearly normal, a spike neither fires nor counts towards resolving.
        if (f || spikeClear(cost, base, sp.c, { score, threshold: sp.threshold }, clearBelow)) judge("spike", f);
        else hold.push("spike");
      }

      const sameHour = s.byHour.get(start.getUTCHours())?.values() ?? [];
      if (s.days.size > config.creep.minSeasonalDays && sameHour.length >= config.creep.minSeasonalDays) {
        const usual = median(sameHour);
        if (usual > 0) s.hourRatios.push(cost / usual);
        if (s.hourRatios.length >= config.creep.recentWindows && !findings.length)
          judge("creep", creep(median(s.hourRatios.values()), config.creep, usual, cost));
      }
      if (enough) {
        if ((w.output_tokens ?? 0) > 0)
          judge(
            "efficiency",
            efficiency("per 1k output tokens", cost / (w.output_tokens / 1000), s.perKOutput.values(), config.efficiency),
          );
        else if (w.requests > 0)
          judge("efficiency", efficiency("per request", cost / w.requests, s.perRequest.values(), config.efficiency));
      }
      s.recentMoney.push({ revenue: Number(w.revenue_usd), cost });
      if (s.recentMoney.length > config.roi.windows) s.recentMoney.shift();
      if (s.roiHistory.length >= config.minHistory) judge("roi", roi(s.recentMoney, median(s.roiHistory.values()), config.roi));
      if (w.scope === "tenant" && cost > 0) {
        const mix = mixVector(s, w);
        if (mix) {
          if (!findings.some((f) => f.type === "spike" || f.type === "efficiency"))
            judge("mix_shift", mixShift(mix.now, mix.history, mix.labels, config.mixShift));
          s.mix.push(mix.now);
          if (s.mix.length > HISTORY) s.mix.shift();
        }
      }
      // An anomalous window does not become tomorrow's baseline.
      if (!findings.length) record(s, w);
      return { series: id, window: w, findings, clear: ran.filter((t) => !findings.some((f) => f.type === t)), hold };
    },
  };
}
export type Engine = ReturnType<typeof createEngine>;
export type { DetectorConfig };
