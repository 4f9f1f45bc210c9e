// Runs analytic queries (reports, /v1/sql) apart from ingestion: on their own
// connections ("lanes"; in the embedded engine a connection runs one query at
// a time, so the ledger sink keeps its own), a bounded number at once with a
// bounded queue, each under the server's limits (query-limits.ts) and tagged
// so it can be killed: when its caller goes away, when it outlives its limit
// (a watchdog for what max_execution_time cannot interrupt), and at shutdown.
import { randomUUID } from "node:crypto";
import type { ClickHouseClient } from "@clickhouse/client";
import { inlineParams } from "./inline-params.ts";
import { QueryLimitError, limitError, withLimits, type QueryLimits } from "./query-limits.ts";

export interface AnalyticsOptions {
  /** One client per lane; queries on a lane run one at a time. */
  lanes: readonly ClickHouseClient[];
  /** Where KILL QUERY runs: a connection analytics never occupies. */
  control: ClickHouseClient;
  limits: QueryLimits;
  /** Inline parameters instead of binding them (embedded engine). */
  inline: boolean;
  /** Queries waiting for a lane; one more is refused as busy. */
  maxQueued?: number;
}

export interface RunOptions {
  /** Aborting it (the HTTP client went away) kills the query. */
  signal?: AbortSignal;
  /** Who asks (an API key id): a free lane goes to the waiting owner with the fewest queries running. */
  owner?: string;
}

export interface Analytics {
  rows<T>(sql: string, params?: Record<string, unknown>, opts?: RunOptions): Promise<T[]>;
  /** The JSONEachRow text of a query. */
  text(sql: string, params?: Record<string, unknown>, opts?: RunOptions): Promise<string>;
  readonly limits: QueryLimits;
  /** Queries running and waiting now. */
  load(): { running: number; queued: number };
  /** Kills every running query and refuses queued and new ones (shutdown). */
  stop(): Promise<void>;
}

/**
 * The result bounds once more on the answer itself: ClickHouse does not apply
 * max_result_rows to every plan (one block from a folded arrayJoin passes).
 */
function checkResult(body: string, l: QueryLimits): string {
  let rows = 0;
  for (let i = body.indexOf("\n"); i !== -1; i = body.indexOf("\n", i + 1)) {
    if (++rows > l.maxResultRows) {
      throw new QueryLimitError(
        "rows",
        `query stopped: its result has more than ${l.maxResultRows} rows (COSTLINE_QUERY_MAX_RESULT_ROWS); add a LIMIT or aggregate`,
        413,
      );
    }
  }
  if (body.length > l.maxResultBytes) {
    throw new QueryLimitError(
      "bytes",
      `query stopped: its result is larger than ${l.maxResultBytes} bytes (COSTLINE_QUERY_MAX_RESULT_BYTES); add a LIMIT or aggregate`,
      413,
    );
  }
  return body;
}

export function createAnalytics(o: AnalyticsOptions): Analytics {
  const free = [...o.lanes];
  type Waiter = { owner: string; resolve: (c: ClickHouseClient) => void; reject: (e: Error) => void };
  const waiting: Waiter[] = [];
  const perOwner = new Map<string, number>();
  const running = new Set<string>();
  const maxQueued = o.maxQueued ?? 64;
  let stopped = false;

  // One owner never holds every lane: the last one stays for everybody else.
  const perOwnerCap = Math.max(1, o.lanes.length - 1);
  const grant = (owner: string) => perOwner.set(owner, (perOwner.get(owner) ?? 0) + 1);
  const mayRun = (owner: string) => (perOwner.get(owner) ?? 0) < perOwnerCap;
  const busy = () => new QueryLimitError("busy", "the stack is running as many analytic queries as it allows; retry shortly", 503);

  function acquire(owner: string, signal?: AbortSignal): Promise<ClickHouseClient> {
    if (stopped) return Promise.reject(new QueryLimitError("cancelled", "the stack is shutting down", 503));
    if (free.length > 0 && mayRun(owner)) {
      grant(owner);
      return Promise.resolve(free.pop()!);
    }
    if (waiting.length >= maxQueued) return Promise.reject(busy());
    return new Promise((resolve, reject) => {
      const entry: Waiter = {
        owner,
        resolve: (c: ClickHouseClient) => {
          clear();
          resolve(c);
        },
        reject: (e: Error) => {
          clear();
          reject(e);
        },
      };
      // A query that waited a whole time limit for a lane would only time out on it.
      const timer = setTimeout(() => {
        drop();
        reject(busy());
      }, o.limits.timeoutS * 1000);
      const onAbort = () => {
        drop();
        reject(new QueryLimitError("cancelled", "query cancelled before it started", 499));
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      const drop = () => {
        const i = waiting.indexOf(entry);
        if (i >= 0) waiting.splice(i, 1);
        clear();
      };
      const clear = () => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
      };
      waiting.push(entry);
    });
  }

  function release(lane: ClickHouseClient): void {
    // Fair, not first-come: one owner's flood cannot keep another waiting behind all of it.
    let best = -1;
    for (let i = 0; i < waiting.length; i++) {
      if (!mayRun(waiting[i]!.owner)) continue;
      if (best === -1 || (perOwner.get(waiting[i]!.owner) ?? 0) < (perOwner.get(waiting[best]!.owner) ?? 0)) best = i;
    }
    if (best === -1) {
      free.push(lane);
      return;
    }
    const next = waiting.splice(best, 1)[0]!;
    grant(next.owner);
    next.resolve(lane);
  }

  function kill(tag: string): Promise<void> {
    // The tag is ours (letters, digits, _), never caller text; ASYNC: do not wait for the query to unwind.
    return o.control.command({ query: `KILL QUERY WHERE Settings['log_comment'] = '${tag}' ASYNC` }).then(
      () => undefined,
      () => undefined,
    );
  }

  async function text(sql: string, params: Record<string, unknown> = {}, opts: RunOptions = {}): Promise<string> {
    if (opts.signal?.aborted) throw new QueryLimitError("cancelled", "query cancelled before it started", 499);
    const owner = opts.owner ?? "";
    const lane = await acquire(owner, opts.signal);
    const tag = `costline_q_${randomUUID().replace(/-/g, "")}`;
    const bound = Object.keys(params).length > 0;
    const query = withLimits(o.inline && bound ? inlineParams(sql, params) : sql, o.limits, tag);
    let cancelled = false;
    const onAbort = () => {
      cancelled = true;
      void kill(tag);
    };
    opts.signal?.addEventListener("abort", onAbort, { once: true });
    // max_execution_time is checked between blocks; a read stuck in I/O is killed by this instead.
    const watchdog = setTimeout(() => void kill(tag), o.limits.timeoutS * 1000 + 2000);
    running.add(tag);
    try {
      const rs = await lane.query({ query, format: "JSONEachRow", ...(!o.inline && bound ? { query_params: params } : {}) });
      return checkResult(await rs.text(), o.limits);
    } catch (err) {
      const limited = limitError(err, o.limits);
      if (limited?.bound === "cancelled" && !cancelled && !stopped) {
        throw new QueryLimitError("time", `query stopped: it ran longer than ${o.limits.timeoutS} s (COSTLINE_QUERY_TIMEOUT_S)`, 408, {
          cause: err,
        });
      }
      throw limited ?? err;
    } finally {
      clearTimeout(watchdog);
      opts.signal?.removeEventListener("abort", onAbort);
      running.delete(tag);
      const n = (perOwner.get(owner) ?? 1) - 1;
      if (n > 0) perOwner.set(owner, n);
      else perOwner.delete(owner);
      release(lane);
    }
  }

  return {
    limits: o.limits,
    text,
    async rows<T>(sql: string, params: Record<string, unknown> = {}, opts: RunOptions = {}): Promise<T[]> {
      const body = await text(sql, params, opts);
      return body
        .split("\n")
        .filter((l) => l !== "")
        .map((l) => JSON.parse(l) as T);
    },
    load: () => ({ running: running.size, queued: waiting.length }),
    async stop() {
      stopped = true;
      for (const w of waiting.splice(0)) w.reject(new QueryLimitError("cancelled", "the stack is shutting down", 503));
      await Promise.all([...running].map(kill));
    },
  };
}

/**
 * The analytics runner seen as the small part of a ClickHouseClient that
 * queryRows uses, for one request: report code stays as it is, and every
 * query it runs is bounded, scheduled and cancellable.
 */
export function analyticsClient(a: Analytics, opts: RunOptions = {}): ClickHouseClient {
  const facade = {
    async query(p: { query: string; query_params?: Record<string, unknown> }) {
      const body = await a.text(p.query, p.query_params ?? {}, opts);
      return {
        text: async () => body,
        json: async <T>() =>
          body
            .split("\n")
            .filter((l) => l !== "")
            .map((l) => JSON.parse(l) as T),
      };
    },
  };
  return facade as unknown as ClickHouseClient;
}
