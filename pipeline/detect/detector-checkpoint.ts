// What the detector of one partition checkpoints, so a takeover neither starts
// cold nor alerts again: the alert book's state, and the history its baselines
// were built from — per series, the last final windows the engine judged (and
// those warm start learned), replayed through the same engine when the
// partition is taken over. The engine's state is a function of the final
// windows it saw, in order per series, so a replay rebuilds it whatever series
// detector is configured (no detector needs a snapshot format of its own).
// History older than the bound (the engine's own 288 windows) is not kept:
// baselines that look further back (same hour on earlier days) start again
// from what the bound holds. A post keeps only its running total.
import type { WindowAggregate } from "../../schemas/index.ts";
import type { AlertBookSnapshot } from "./alert-book.ts";
import { POST_IDLE_MS, seriesId, type Engine } from "./engine.ts";

/** Windows kept per series: the engine's history length. */
export const JOURNAL_WINDOWS = 288;

/** The fields of a final window the engine reads. */
type Slim = Pick<
  WindowAggregate,
  | "scope"
  | "key"
  | "tenant"
  | "window_start"
  | "window_end"
  | "cost_usd"
  | "revenue_usd"
  | "output_tokens"
  | "input_tokens"
  | "requests"
  | "events"
  | "by_model"
  | "by_operation"
>;

/** One judged window, or (learned: warm start) one fed without judging. */
interface Entry {
  w: Slim;
  learned?: true;
}

export interface DetectorCheckpoint {
  v: 1;
  book: AlertBookSnapshot;
  series: [string, Entry[]][];
  /** Posts: the running total and the last final window's start, oldest first. */
  posts: [string, { w: Slim; total: number; lastStart: number }][];
}

const slim = (w: Slim): Slim => ({
  scope: w.scope,
  key: w.key,
  tenant: w.tenant,
  window_start: w.window_start,
  window_end: w.window_end,
  cost_usd: w.cost_usd,
  revenue_usd: w.revenue_usd ?? "0",
  output_tokens: w.output_tokens ?? 0,
  input_tokens: w.input_tokens ?? 0,
  requests: w.requests ?? 0,
  events: w.events ?? 0,
  // Only the tenant scope's mix-shift check reads the breakdowns.
  by_model: w.scope === "tenant" ? (w.by_model ?? {}) : {},
  by_operation: w.scope === "tenant" ? (w.by_operation ?? {}) : {},
});

export function createDetectorJournal(bound = JOURNAL_WINDOWS) {
  const series = new Map<string, Entry[]>();
  const posts = new Map<string, { w: Slim; total: number; lastStart: number }>();
  let newestPostStart = Number.NEGATIVE_INFINITY;

  function push(w: Slim, learned: boolean): void {
    const id = seriesId(w);
    let list = series.get(id);
    if (!list) series.set(id, (list = []));
    list.push(learned ? { w: slim(w), learned: true } : { w: slim(w) });
    if (list.length > bound) list.splice(0, list.length - bound);
  }

  return {
    /** A window warm start fed the engine (engine.learn). */
    learned(w: Slim): void {
      push(w, true);
    },
    /** A window the stage gave the engine: final windows change its state, open ones do not. */
    judged(w: WindowAggregate): void {
      if (!w.final || w.scope === "tenant_user") return;
      if (w.scope !== "post") return push(w, false);
      const id = seriesId(w);
      const start = Date.parse(w.window_start);
      const p = posts.get(id) ?? { w: slim(w), total: 0, lastStart: start };
      posts.delete(id); // re-inserted: the map stays ordered by the last final window, like the engine's
      p.total += Number(w.cost_usd);
      p.lastStart = Math.max(p.lastStart, start);
      posts.set(id, p);
      newestPostStart = Math.max(newestPostStart, start);
      // The engine drops posts idle this long; so does the journal.
      for (const [k, q] of posts) {
        if (q.lastStart >= newestPostStart - POST_IDLE_MS) break;
        posts.delete(k);
      }
    },
    seriesCount: () => series.size + posts.size,
    snapshot(book: AlertBookSnapshot): DetectorCheckpoint {
      return { v: 1, book, series: [...series], posts: [...posts] };
    },
    /** Takes a checkpoint's history and replays it through `engine` (a fresh one): its baselines as they were. */
    restore(cp: DetectorCheckpoint, engine: Engine): void {
      series.clear();
      posts.clear();
      for (const [id, entries] of cp.series) {
        series.set(id, entries);
        for (const e of entries) {
          if (e.learned) engine.learn(e.w);
          else engine.evaluate({ ...e.w, top_posts: {}, top_users: {}, unpriced_events: 0, final: true, emitted_at: e.w.window_end });
        }
      }
      for (const [id, p] of cp.posts) {
        posts.set(id, p);
        newestPostStart = Math.max(newestPostStart, p.lastStart);
        // One final window carrying the running total rebuilds the engine's entry for the post.
        engine.evaluate({
          ...p.w,
          cost_usd: String(p.total),
          window_start: new Date(p.lastStart).toISOString(),
          top_posts: {},
          top_users: {},
          unpriced_events: 0,
          final: true,
          emitted_at: p.w.window_end,
        });
      }
    },
  };
}
export type DetectorJournal = ReturnType<typeof createDetectorJournal>;
