// The allocation stage: every few seconds, shared costs (infra and vector-db
// events that name no post) whose window has closed — window end plus the
// allowed lateness has passed — are split across the posts active in that
// window, and the split is stored in costline.cost_allocations. A stored
// allocation is final; a shared event arriving after its window closed is
// allocated on the next pass with the drivers known then.
import type { ClickHouseClient } from "@clickhouse/client";
import type { Config } from "../config/config.ts";
import { insertIdempotent, queryRows } from "../clickhouse/client.ts";
import { groupBy } from "../group-by.ts";
import { chTime } from "../ledger/ledger-row.ts";
import type { Logger } from "../observability/log.ts";
import { sqlFile } from "../queries/sql-files.ts";
import { sharedCostKinds } from "../../schemas/index.ts";
import { splitCost, type Driver } from "./split.ts";

type Candidate = {
  tenant: string;
  source: string;
  event_id: string;
  kind: string;
  cost: string;
  window_start: string;
  ingested_at: string;
};
type DriverRow = { post_id: string; persona_id: string; llm_tokens: string | number; llm_cost: string; requests: string | number };

/**
 * With several instances: which tenants this one allocates now (their
 * partition's lease is held), and a count that grows whenever it acquires a
 * partition (its earlier unallocated costs are then looked for again).
 */
export interface AllocatorOwnership {
  /** The partition count, and the partitions held now. */
  partitions: number;
  owned(): number[];
  holds(tenant: string): boolean;
  generation(): number;
}

export interface AllocatorDeps {
  client: ClickHouseClient;
  config: Config["allocation"];
  log: Logger;
  now?: () => Date;
  /** Absent: this instance allocates every tenant (it is the only one). */
  ownership?: AllocatorOwnership;
}

/** Windows whose drivers one query reads. */
const WINDOWS_PER_QUERY = 500;

type Window = { tenant: string; window_start: string };
/** A tenant's allocation window, as allocation_drivers.sql names it: tenant NUL window start. */
const windowKey = (w: Window) => `${w.tenant}\u0000${w.window_start}`;
/** A window start as ClickHouse writes it (`YYYY-MM-DD hh:mm:ss.sss`, UTC), in milliseconds. */
const startMs = (w: Window) => Date.parse(`${w.window_start.replace(" ", "T")}Z`);

export function createAllocator(deps: AllocatorDeps) {
  const { client, config, log, ownership } = deps;
  const now = deps.now ?? (() => new Date());
  let since: string | undefined;
  /** The newest ingestion time of a candidate seen so far: where the next pass resumes (less a margin). */
  let newestSeen: string | undefined;
  let generation = ownership?.generation() ?? 0;

  async function start(): Promise<string> {
    const [row] = await queryRows<{ since: string }>(client, sqlFile("allocation_start"), { shared_kinds: sharedCostKinds });
    return row?.since ?? "1970-01-01 00:00:00.000";
  }

  function weightOf(d: DriverRow): string {
    if (config.driver === "llm_cost") return d.llm_cost;
    if (config.driver === "requests") return String(d.requests);
    return String(d.llm_tokens);
  }

  /**
   * The drivers of many windows, by windowKey: a few queries per pass, not one per window (the
   * embedded engine spends some 100 ms on any query).
   */
  async function driversOf(windows: Window[]): Promise<Map<string, DriverRow[]>> {
    const out = new Map<string, DriverRow[]>();
    for (let i = 0; i < windows.length; i += WINDOWS_PER_QUERY) {
      const part = windows.slice(i, i + WINDOWS_PER_QUERY);
      const starts = part.map(startMs);
      const rows = await queryRows<DriverRow & Window>(client, sqlFile("allocation_drivers"), {
        tenants: [...new Set(part.map((w) => w.tenant))],
        windows: part.map(windowKey),
        window_s: config.windowS,
        from: chTime(new Date(Math.min(...starts)).toISOString()),
        to: chTime(new Date(Math.max(...starts) + config.windowS * 1000).toISOString()),
      });
      // Each window is in one part only: the parts' groups never share a key.
      for (const [key, list] of groupBy(rows, windowKey)) out.set(key, list);
    }
    return out;
  }

  /** One pass; returns how many shared events it allocated. */
  async function pass(): Promise<number> {
    // A partition newly held: its tenants' costs left unallocated by the former owner may lie before `since`.
    if (ownership && ownership.generation() !== generation) {
      generation = ownership.generation();
      since = undefined;
      newestSeen = undefined;
    }
    since ??= await start();
    // Two instances splitting one event would store two splits (each summing to its cost): a
    // tenant is its partition owner's alone. The query selects the held partitions' tenants.
    const owned = ownership?.owned() ?? [0];
    if (owned.length === 0) return 0;
    const candidates = await queryRows<Candidate>(client, sqlFile("allocation_candidates"), {
      since,
      window_s: config.windowS,
      shared_kinds: sharedCostKinds,
      partitions: ownership?.partitions ?? 1,
      owned,
    });
    // A window is closed once its end plus the allowed lateness has passed (not a whole window more).
    const closedBefore = now().getTime() - config.latenessS * 1000;
    const ready = candidates.filter((c) => startMs(c) + config.windowS * 1000 <= closedBefore);
    const waiting = candidates.filter((c) => !ready.includes(c));
    const byWindow = groupBy(ready, windowKey);
    const drivers = await driversOf([...byWindow.values()].map((group) => group[0]!));
    const rows: Record<string, unknown>[] = [];
    for (const [key, group] of byWindow) {
      const { tenant, window_start } = group[0]!;
      const weights: Driver[] = (drivers.get(key) ?? []).map((d) => ({
        post_id: d.post_id,
        persona_id: d.persona_id,
        weight: weightOf(d),
      }));
      for (const c of group)
        for (const s of splitCost(c.cost, weights))
          rows.push({
            tenant,
            post_id: s.post_id,
            persona_id: s.persona_id,
            source: c.source,
            source_event_id: c.event_id,
            kind: c.kind,
            window_start,
            driver: config.driver,
            share: s.share,
            amount_usd: s.amount_usd,
          });
    }
    // The fence: a partition lost while this pass ran is left to its new owner.
    const kept = ownership ? rows.filter((r) => ownership.holds(r.tenant as string)) : rows;
    if (kept.length) {
      await insertIdempotent(
        client,
        "costline.cost_allocations",
        kept,
        kept.map((r) => `${r.tenant as string}|${r.source}|${r.source_event_id}|${r.post_id}|${r.amount_usd}`),
      );
      log.info({ shared_events: ready.length, rows: kept.length, windows: byWindow.size }, "allocated shared costs");
    }
    // Next pass starts at the oldest event still waiting for its window, or where this one ended.
    // From the newest candidate seen, not from `since`: a pass that finds nothing must not step further back each time.
    const newest = candidates.reduce((m, c) => (c.ingested_at > m ? c.ingested_at : m), newestSeen ?? since);
    newestSeen = newest;
    const resume = waiting.length ? waiting.reduce((m, c) => (c.ingested_at < m ? c.ingested_at : m), newest) : newest;
    // Step back a little: an insert may become visible slightly after a later one.
    since = chTime(new Date(Date.parse(`${resume.replace(" ", "T")}Z`) - 5000).toISOString());
    return ready.length;
  }

  return { pass };
}
