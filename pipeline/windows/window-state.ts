// Tumbling event-time windows per scope, as a pure state machine the windower
// drives. Events join the window their time falls in; the watermark is the
// latest event time seen (future outliers capped), and a window is final once
// the watermark — or, when traffic stops, the wall clock — has passed its end
// plus the allowed lateness. An event for a final window is late: it still
// reaches the ledger, but no longer changes a published window.
import { fromPico, toPico } from "../pricing/decimal.ts";
import type { PricedEvent, WindowAggregate } from "../../schemas/index.ts";
import { eventKey } from "../ledger/ledger-row.ts";

type Scope = WindowAggregate["scope"];

interface Open {
  scope: Scope;
  key: Record<string, string>;
  tenant: string;
  start: number;
  events: number;
  unpriced: number;
  cost: bigint;
  revenue: bigint;
  inputTokens: number;
  outputTokens: number;
  requests: number;
  byModel: Map<string, bigint>;
  byOperation: Map<string, bigint>;
  byPost: Map<string, bigint>;
  byUser: Map<string, bigint>;
  changed: boolean;
}

export interface WindowOptions {
  windowMs: number;
  latenessMs: number;
  /** How far past the wall clock an event time may push the watermark. */
  maxFutureMs?: number;
  /** Which users get per-user windows (those with a budget); none when absent. */
  userWindows?: (tenant: string, user: string) => boolean;
}

/**
 * The scopes an event counts in, with their keys; a scope whose key the event
 * lacks is skipped. Per-user windows only for the users `userWindows` names:
 * users are many, and only a user budget needs them.
 */
export function scopesOf(e: PricedEvent, userWindows?: WindowOptions["userWindows"]): { scope: Scope; key: Record<string, string> }[] {
  const out: { scope: Scope; key: Record<string, string> }[] = [{ scope: "tenant", key: { tenant: e.tenant } }];
  if (e.model) out.push({ scope: "tenant_model", key: { tenant: e.tenant, provider: e.provider, model: e.model } });
  if (e.persona_id) out.push({ scope: "tenant_persona", key: { tenant: e.tenant, persona_id: e.persona_id } });
  if (e.feature) out.push({ scope: "tenant_feature", key: { tenant: e.tenant, feature: e.feature } });
  if (e.operation) out.push({ scope: "tenant_operation", key: { tenant: e.tenant, operation: e.operation } });
  if (e.user_id && userWindows?.(e.tenant, e.user_id)) out.push({ scope: "tenant_user", key: { tenant: e.tenant, user_id: e.user_id } });
  if (e.post_id) out.push({ scope: "post", key: { tenant: e.tenant, post_id: e.post_id } });
  return out;
}

export function createWindowState(opts: WindowOptions) {
  const open = new Map<string, Open>();
  /**
   * Per window start not yet final: the event keys already counted (so a
   * redelivered event is not counted twice), and what waits for its windows
   * to be final and published (the windower's held messages). Every window
   * of one start turns final in the same tick, so one list per start.
   */
  const starts = new Map<number, { keys: Set<string>; waiters: (() => void)[] }>();
  const maxFuture = opts.maxFutureMs ?? 60_000;
  let watermark = 0;

  const isFinal = (start: number, now: number) => {
    const closesAt = start + opts.windowMs + opts.latenessMs;
    return watermark >= closesAt || now >= closesAt + opts.windowMs;
  };

  function toAggregate(w: Open, final: boolean, now: number): WindowAggregate {
    const money = (m: Map<string, bigint>) => Object.fromEntries([...m].map(([k, v]) => [k, fromPico(v)]));
    const top = (m: Map<string, bigint>) => money(new Map([...m].sort((a, b) => (b[1] > a[1] ? 1 : b[1] < a[1] ? -1 : 0)).slice(0, 5)));
    return {
      scope: w.scope,
      key: w.key,
      tenant: w.tenant,
      window_start: new Date(w.start).toISOString(),
      window_end: new Date(w.start + opts.windowMs).toISOString(),
      events: w.events,
      unpriced_events: w.unpriced,
      cost_usd: fromPico(w.cost),
      revenue_usd: fromPico(w.revenue),
      input_tokens: w.inputTokens,
      output_tokens: w.outputTokens,
      requests: w.requests,
      by_model: money(w.byModel),
      by_operation: money(w.byOperation),
      top_posts: top(w.byPost),
      top_users: top(w.byUser),
      final,
      emitted_at: new Date(now).toISOString(),
    };
  }

  return {
    watermark: () => watermark,
    /** Resumes from a checkpointed watermark, so windows final before a restart stay final. */
    restore(wm: number) {
      watermark = Math.max(watermark, wm);
    },
    openWindows: () => open.size,

    /**
     * Adds one event. Returns the start of the windows it joined, or `late`
     * when its window is already final, or `duplicate` when this event was
     * counted before.
     */
    add(e: PricedEvent, now: number): { status: "added"; start: number } | { status: "late" | "duplicate" } {
      const t = Date.parse(e.time);
      const start = t - (((t % opts.windowMs) + opts.windowMs) % opts.windowMs);
      if (isFinal(start, now)) return { status: "late" };
      const k = eventKey(e);
      let s = starts.get(start);
      if (!s) starts.set(start, (s = { keys: new Set(), waiters: [] }));
      if (s.keys.has(k)) return { status: "duplicate" };
      s.keys.add(k);
      watermark = Math.max(watermark, Math.min(t, now + maxFuture));
      const cost = e.cost_usd === null ? undefined : toPico(e.cost_usd);
      const revenue = toPico(e.revenue_usd);
      for (const { scope, key } of scopesOf(e, opts.userWindows)) {
        const id = `${scope}|${Object.values(key).join("\u0000")}|${start}`;
        let w = open.get(id);
        if (!w) {
          w = {
            scope,
            key,
            tenant: e.tenant,
            start,
            events: 0,
            unpriced: 0,
            cost: 0n,
            revenue: 0n,
            inputTokens: 0,
            outputTokens: 0,
            requests: 0,
            byModel: new Map(),
            byOperation: new Map(),
            byPost: new Map(),
            byUser: new Map(),
            changed: false,
          };
          open.set(id, w);
        }
        w.events++;
        if (!e.priced) w.unpriced++;
        if (cost !== undefined) {
          w.cost += cost;
          if (e.model) w.byModel.set(e.model, (w.byModel.get(e.model) ?? 0n) + cost);
          if (e.operation) w.byOperation.set(e.operation, (w.byOperation.get(e.operation) ?? 0n) + cost);
          if (e.post_id && scope !== "post") w.byPost.set(e.post_id, (w.byPost.get(e.post_id) ?? 0n) + cost);
          if (e.user_id) w.byUser.set(e.user_id, (w.byUser.get(e.user_id) ?? 0n) + cost);
        }
        w.revenue += revenue;
        w.inputTokens += e.usage.input_tokens ?? 0;
        w.outputTokens += e.usage.output_tokens ?? 0;
        if (e.kind === "llm") w.requests++;
        w.changed = true;
      }
      return { status: "added", start };
    },

    /** Calls `fn` once the windows of `start` are final and published (or at once if they are already). */
    whenFinal(start: number, fn: () => void) {
      const s = starts.get(start);
      if (s) s.waiters.push(fn);
      else fn();
    },

    /**
     * What to publish now: updated open windows, and windows that became
     * final (removed from the state). `release` runs their waiters; call it
     * only after the finals were published.
     */
    tick(now: number): { updates: WindowAggregate[]; finals: WindowAggregate[]; release: () => void } {
      const updates: WindowAggregate[] = [];
      const finals: WindowAggregate[] = [];
      const released: (() => void)[][] = [];
      for (const [id, w] of open) {
        if (isFinal(w.start, now)) {
          finals.push(toAggregate(w, true, now));
          open.delete(id);
        } else if (w.changed && w.scope !== "post") {
          // Post windows are many and small: they are published when final only.
          updates.push(toAggregate(w, false, now));
          w.changed = false;
        }
      }
      for (const [start, s] of starts)
        if (isFinal(start, now)) {
          starts.delete(start);
          released.push(s.waiters);
        }
      // A busy window holds hundreds of thousands of messages: no spreading them into one call's arguments.
      return { updates, finals, release: () => released.forEach((list) => list.forEach((fn) => fn())) };
    },
  };
}
export type WindowState = ReturnType<typeof createWindowState>;
