// Tumbling event-time windows per scope, as a pure state machine the windower
// drives. Events join the window their time falls in; the watermark is the
// latest event time seen (future outliers capped), and a window is final once
// the watermark — or, when traffic stops, the wall clock — has passed its end
// plus the allowed lateness. An event for a final window is late: it still
// reaches the ledger, but no longer changes a published window.
//
// The whole state — open windows, the watermark and the horizon below which
// every window was published final — is a plain `snapshot()` the windower
// checkpoints, and `load()` resumes from. The keys of the events counted in
// each window start not yet final are checkpointed apart, as a log: each
// checkpoint writes only the keys added since the one before (`takeFresh()`),
// so its cost follows the traffic since then, not the open state. The open
// windows travel apart too, one section per window start (`takeChanged()`):
// a checkpoint rewrites only the starts whose windows changed since the one
// before — in steady traffic the current minute — not the starts waiting out
// their lateness. Keys are kept as 96-bit digests: memory grows with the open
// windows' events, never with traffic over time.
import { hash } from "node:crypto";
import { fromPico, toPico } from "../pricing/decimal.ts";
import type { PricedEvent, WindowAggregate } from "../../schemas/index.ts";
import { tenantEventKey } from "../ledger/ledger-row.ts";

type Scope = WindowAggregate["scope"];

/**
 * An amount in picodollars: a plain number while it is a safe integer (exact,
 * and adding it allocates nothing), a bigint once a sum outgrows that.
 */
type Pico = number | bigint;

interface Open {
  scope: Scope;
  key: Record<string, string>;
  tenant: string;
  start: number;
  events: number;
  unpriced: number;
  cost: Pico;
  revenue: Pico;
  inputTokens: number;
  outputTokens: number;
  requests: number;
  byModel: Map<string, Pico>;
  byOperation: Map<string, Pico>;
  byPost: Map<string, Pico>;
  byUser: Map<string, Pico>;
  changed: boolean;
}

/** Exact: integer numbers add exactly while the sum is a safe integer; past that the sum is a bigint. */
function plus(a: Pico, b: Pico): Pico {
  if (typeof a === "number" && typeof b === "number") {
    const sum = a + b;
    if (Number.isSafeInteger(sum)) return sum;
  }
  return BigInt(a) + BigInt(b);
}

/** A money string as picodollars (toPico), as a number below $1,000, where whole × 10^12 + fraction stays exact. */
function picoOf(value: string): Pico {
  const negative = value.charCodeAt(0) === 45;
  const dot = value.indexOf(".");
  const whole = value.slice(negative ? 1 : 0, dot < 0 ? value.length : dot);
  if (whole.length === 0 || whole.length > 3) return toPico(value);
  const frac = dot < 0 ? "" : value.slice(dot + 1);
  const pico = Number(whole) * 1e12 + Number(`${frac}000000000000`.slice(0, 12));
  if (!Number.isSafeInteger(pico)) return toPico(value);
  return negative ? -pico : pico;
}

const picoText = (v: Pico) => fromPico(typeof v === "bigint" ? v : BigInt(v));

/** The key of an event's window in `scope` (see scopesOf), built only when the window opens. */
function keyOf(scope: Scope, e: PricedEvent): Record<string, string> {
  switch (scope) {
    case "tenant":
      return { tenant: e.tenant };
    case "tenant_model":
      return { tenant: e.tenant, provider: e.provider, model: e.model };
    case "tenant_persona":
      return { tenant: e.tenant, persona_id: e.persona_id! };
    case "tenant_feature":
      return { tenant: e.tenant, feature: e.feature! };
    case "tenant_operation":
      return { tenant: e.tenant, operation: e.operation! };
    case "tenant_user":
      return { tenant: e.tenant, user_id: e.user_id! };
    case "post":
      return { tenant: e.tenant, post_id: e.post_id! };
  }
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

/** What a checkpoint holds (JSON-safe: money as picodollar strings); the keys and the windows travel apart. */
export interface WindowSnapshot {
  v: 3;
  watermark: number;
  /** Every window start at or below this was published final. */
  closed: number;
  /** The window starts not yet final; their keys and windows travel apart (`takeFresh`, `takeChanged`, `load`'s `keys` and `sections`). */
  starts: number[];
}

/** A checkpoint of the second format, which held every open window inline (still loaded). */
export interface WindowSnapshotV2 extends Omit<WindowSnapshot, "v"> {
  v: 2;
  windows: SerializedWindow[];
}

/** A checkpoint of the first format, which held every start's keys inline (still loaded). */
export interface WindowSnapshotV1 extends Omit<WindowSnapshotV2, "v" | "starts"> {
  v: 1;
  /** Per start, its event keys' digests concatenated (each KEY_CHARS long). */
  starts: [number, string][];
}

/** Event keys of one window start, their digests concatenated (each KEY_CHARS long): far cheaper to write than an array. */
export type StartKeys = readonly [start: number, joined: string];
/** The open windows of one window start, as the JSON text of their SerializedWindow array. */
export type StartWindows = readonly [start: number, json: string];

interface SerializedWindow {
  scope: Scope;
  key: Record<string, string>;
  tenant: string;
  start: number;
  events: number;
  unpriced: number;
  cost: string;
  revenue: string;
  inputTokens: number;
  outputTokens: number;
  requests: number;
  byModel: [string, string][];
  byOperation: [string, string][];
  byPost: [string, string][];
  byUser: [string, string][];
}

/** An event's identity as 16 base64 characters (96 bits of SHA-1 of tenant, source and id): small enough to keep per open window. */
// Tenant, source and id, as the ledger's key: a partition's windows hold several tenants, and one
// tenant's event under another tenant's (source, id) must not hide the other's from its windows.
// Twelve bytes encode to exactly KEY_CHARS characters: a string of its own, where slicing a longer
// encoding would keep a view of it (V8 slices of 13 characters or more hold their parent alive).
export const keyDigest = (e: Pick<PricedEvent, "tenant" | "source" | "event_id">) =>
  hash("sha1", tenantEventKey(e), "buffer").toString("base64url", 0, 12);
const KEY_CHARS = 16;
/** 8,192 keys: 128 KiB of digests. */
const FRESH_PER_ENTRY = 8192;

const entriesOut = (m: Map<string, Pico>): [string, string][] => [...m].map(([k, v]) => [k, v.toString()]);
const entriesIn = (l: [string, string][]) => new Map<string, Pico>(l.map(([k, v]) => [k, BigInt(v)]));

export function createWindowState(opts: WindowOptions) {
  const open = new Map<string, Open>();
  /**
   * Per window start not yet final: the event keys already counted (so a
   * redelivered event is not counted twice), and what waits for its windows
   * to be final and published (the windower's held messages). Every window
   * of one start turns final in the same tick, so one list per start.
   */
  const starts = new Map<number, { keys: Set<string>; fresh: string[]; waiters: (() => void)[] }>();
  /** Window starts whose windows changed since the last `takeChanged()`. */
  const dirty = new Set<number>();
  const maxFuture = opts.maxFutureMs ?? 60_000;
  let watermark = 0;
  let closed = -Infinity;
  /** While held (a takeover waiting for its predecessor's unacknowledged messages), nothing turns final. */
  let holding = false;

  const isFinal = (start: number, now: number) => {
    if (start <= closed) return true;
    if (holding) return false;
    const closesAt = start + opts.windowMs + opts.latenessMs;
    return watermark >= closesAt || now >= closesAt + opts.windowMs;
  };

  function toAggregate(w: Open, final: boolean, now: number): WindowAggregate {
    const money = (m: Map<string, Pico>) => Object.fromEntries([...m].map(([k, v]) => [k, picoText(v)]));
    // A number and a bigint compare exactly with < and >.
    const top = (m: Map<string, Pico>) => money(new Map([...m].sort((a, b) => (b[1] > a[1] ? 1 : b[1] < a[1] ? -1 : 0)).slice(0, 5)));
    return {
      scope: w.scope,
      key: w.key,
      tenant: w.tenant,
      window_start: new Date(w.start).toISOString(),
      window_end: new Date(w.start + opts.windowMs).toISOString(),
      events: w.events,
      unpriced_events: w.unpriced,
      cost_usd: picoText(w.cost),
      revenue_usd: picoText(w.revenue),
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

  /** Counts one event into its window of `scope` (opened on first use). */
  function count(scope: Scope, id: string, e: PricedEvent, start: number, cost: Pico | undefined, revenue: Pico): void {
    let w = open.get(id);
    if (!w) {
      w = {
        scope,
        key: keyOf(scope, e),
        tenant: e.tenant,
        start,
        events: 0,
        unpriced: 0,
        cost: 0,
        revenue: 0,
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
      w.cost = plus(w.cost, cost);
      if (e.model) w.byModel.set(e.model, plus(w.byModel.get(e.model) ?? 0, cost));
      if (e.operation) w.byOperation.set(e.operation, plus(w.byOperation.get(e.operation) ?? 0, cost));
      if (e.post_id && scope !== "post") w.byPost.set(e.post_id, plus(w.byPost.get(e.post_id) ?? 0, cost));
      if (e.user_id) w.byUser.set(e.user_id, plus(w.byUser.get(e.user_id) ?? 0, cost));
    }
    w.revenue = plus(w.revenue, revenue);
    w.inputTokens += e.usage.input_tokens ?? 0;
    w.outputTokens += e.usage.output_tokens ?? 0;
    if (e.kind === "llm") w.requests++;
    w.changed = true;
  }

  return {
    watermark: () => watermark,
    /** Resumes from a checkpointed watermark, so windows final before a restart stay final. */
    restore(wm: number) {
      watermark = Math.max(watermark, wm);
    },
    openWindows: () => open.size,
    /** Event keys held for deduplication (one per event of a window start not yet final). */
    heldKeys: () => [...starts.values()].reduce((n, s) => n + s.keys.size, 0),
    /** Holds or releases finality (see `holding`). */
    hold(on: boolean) {
      holding = on;
    },

    snapshot(): WindowSnapshot {
      return { v: 3, watermark, closed: Number.isFinite(closed) ? closed : -1, starts: [...starts.keys()] };
    },

    /**
     * The windows of each start changed since the last call, serialized, and
     * forgets that they changed: what a checkpoint rewrites of the windows.
     * The checkpoint store keeps them until a save of them succeeds.
     */
    takeChanged(): StartWindows[] {
      if (!dirty.size) return [];
      const byStart = new Map<number, SerializedWindow[]>();
      for (const start of dirty) if (starts.has(start)) byStart.set(start, []);
      dirty.clear();
      for (const w of open.values()) {
        const list = byStart.get(w.start);
        if (list)
          list.push({
            scope: w.scope,
            key: w.key,
            tenant: w.tenant,
            start: w.start,
            events: w.events,
            unpriced: w.unpriced,
            cost: w.cost.toString(),
            revenue: w.revenue.toString(),
            inputTokens: w.inputTokens,
            outputTokens: w.outputTokens,
            requests: w.requests,
            byModel: entriesOut(w.byModel),
            byOperation: entriesOut(w.byOperation),
            byPost: entriesOut(w.byPost),
            byUser: entriesOut(w.byUser),
          });
      }
      return [...byStart].map(([start, list]) => [start, JSON.stringify(list)] as const);
    },

    /**
     * The keys counted since the last call, per start, and forgets them: what
     * a checkpoint adds to the key log. The checkpoint store keeps them until
     * a save of them succeeds.
     */
    takeFresh(): StartKeys[] {
      const out: StartKeys[] = [];
      for (const [start, s] of starts)
        if (s.fresh.length) {
          // Entries of at most FRESH_PER_ENTRY keys: a log chunk is one NATS message, and those are bounded.
          for (let i = 0; i < s.fresh.length; i += FRESH_PER_ENTRY) out.push([start, s.fresh.slice(i, i + FRESH_PER_ENTRY).join("")]);
          s.fresh = [];
        }
      return out;
    },

    /** The window starts not yet final: whose keys a checkpoint's key log must still hold. */
    liveStarts: (): ReadonlySet<number> => new Set(starts.keys()),

    /**
     * Resumes from a checkpoint: the state becomes exactly the one the
     * snapshot was taken of, with the keys of its starts (`keys`: the key
     * log, several entries per start allowed) and their windows (`sections`,
     * one per start). A first-format snapshot carries its keys itself, and
     * the first two formats their windows. Loaded keys are not fresh and
     * loaded sections not changed: the store holds them.
     */
    load(
      snap: WindowSnapshot | WindowSnapshotV2 | WindowSnapshotV1,
      keys: Iterable<StartKeys> = [],
      sections: Iterable<StartWindows> = [],
    ) {
      open.clear();
      starts.clear();
      dirty.clear();
      watermark = snap.watermark;
      closed = snap.closed < 0 ? -Infinity : snap.closed;
      const log: Iterable<StartKeys> = snap.v === 1 ? snap.starts : keys;
      if (snap.v !== 1) for (const start of snap.starts) starts.set(start, { keys: new Set(), fresh: [], waiters: [] });
      for (const [start, joined] of log) {
        let s = starts.get(start);
        if (!s) {
          // The log may still hold a start the snapshot already dropped (final): it is not open.
          if (snap.v !== 1) continue;
          starts.set(start, (s = { keys: new Set(), fresh: [], waiters: [] }));
        }
        // A string of its own per digest: a slice of `joined` would keep all of it alive.
        const bytes = Buffer.from(joined, "latin1");
        for (let i = 0; i < bytes.length; i += KEY_CHARS) {
          const k = bytes.toString("latin1", i, i + KEY_CHARS);
          s.keys.add(k);
          // A first-format checkpoint has no key log yet: its keys are written to one by the next checkpoint.
          if (snap.v === 1) s.fresh.push(k);
        }
      }
      // Earlier formats held the windows inline: their starts are written as sections by the next checkpoint.
      const windows: Iterable<SerializedWindow> =
        snap.v === 3
          ? [...sections].filter(([start]) => starts.has(start)).flatMap(([, json]) => JSON.parse(json) as SerializedWindow[])
          : snap.windows;
      for (const w of windows) {
        if (snap.v !== 3) dirty.add(w.start);
        const id = `${w.scope}|${Object.values(w.key).join("\u0000")}|${w.start}`;
        open.set(id, {
          ...w,
          cost: BigInt(w.cost),
          revenue: BigInt(w.revenue),
          byModel: entriesIn(w.byModel),
          byOperation: entriesIn(w.byOperation),
          byPost: entriesIn(w.byPost),
          byUser: entriesIn(w.byUser),
          changed: false,
        });
      }
    },

    /**
     * Adds one event. Returns the start of the windows it joined, or `late`
     * when its window is already final, or `duplicate` when this event was
     * counted before.
     */
    add(e: PricedEvent, now: number): { status: "added"; start: number } | { status: "late" | "duplicate" } {
      const t = Date.parse(e.time);
      const start = t - (((t % opts.windowMs) + opts.windowMs) % opts.windowMs);
      if (isFinal(start, now)) return { status: "late" };
      const k = keyDigest(e);
      let s = starts.get(start);
      if (!s) starts.set(start, (s = { keys: new Set(), fresh: [], waiters: [] }));
      if (s.keys.has(k)) return { status: "duplicate" };
      s.keys.add(k);
      s.fresh.push(k);
      dirty.add(start);
      watermark = Math.max(watermark, Math.min(t, now + maxFuture));
      const cost = e.cost_usd === null ? undefined : picoOf(e.cost_usd);
      const revenue = picoOf(e.revenue_usd);
      // The windows' ids as scopesOf's keys give them (`scope|values joined by NUL|start`), without an object per scope.
      const t0 = e.tenant;
      const tail = `|${start}`;
      count("tenant", `tenant|${t0}${tail}`, e, start, cost, revenue);
      if (e.model) count("tenant_model", `tenant_model|${t0}\u0000${e.provider}\u0000${e.model}${tail}`, e, start, cost, revenue);
      if (e.persona_id) count("tenant_persona", `tenant_persona|${t0}\u0000${e.persona_id}${tail}`, e, start, cost, revenue);
      if (e.feature) count("tenant_feature", `tenant_feature|${t0}\u0000${e.feature}${tail}`, e, start, cost, revenue);
      if (e.operation) count("tenant_operation", `tenant_operation|${t0}\u0000${e.operation}${tail}`, e, start, cost, revenue);
      if (e.user_id && opts.userWindows?.(t0, e.user_id))
        count("tenant_user", `tenant_user|${t0}\u0000${e.user_id}${tail}`, e, start, cost, revenue);
      if (e.post_id) count("post", `post|${t0}\u0000${e.post_id}${tail}`, e, start, cost, revenue);
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
          closed = Math.max(closed, start);
        }
      if (!holding) {
        // Every start at or below this is final by now, with or without events: the horizon a checkpoint keeps.
        const bound = Math.max(watermark - opts.windowMs - opts.latenessMs, now - 2 * opts.windowMs - opts.latenessMs);
        const aligned = bound - (((bound % opts.windowMs) + opts.windowMs) % opts.windowMs);
        if (aligned > 0) closed = Math.max(closed, aligned);
      }
      // A busy window holds hundreds of thousands of messages: no spreading them into one call's arguments.
      return { updates, finals, release: () => released.forEach((list) => list.forEach((fn) => fn())) };
    },
  };
}
export type WindowState = ReturnType<typeof createWindowState>;
