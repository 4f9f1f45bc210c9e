// Silences: matchers and a time range, stored one per key in the
// costline-silences KV bucket. The API and CLI add and expire them (expiring
// sets the end to now, so the silence stays listable); the notifier keeps a
// local copy through a KV watch and asks it about each alert before sending.
import { randomUUID } from "node:crypto";
import type { KV } from "@nats-io/kv";
import { silenceInputSchema, silenceSchema, type Silence, type SilenceInput } from "../../schemas/index.ts";
import { PermanentError } from "../errors.ts";
import { matchesAll, type Labels } from "./labels.ts";
import { watchKv } from "./kv-buckets.ts";

export type SilenceState = "pending" | "active" | "expired";

export function silenceState(s: Silence, now = Date.now()): SilenceState {
  if (Date.parse(s.ends_at) <= now) return "expired";
  return Date.parse(s.starts_at) > now ? "pending" : "active";
}

/** The tenant a silence is about (an equality matcher on tenant), which a tenant key may see. */
export const silenceTenant = (s: Silence): string | undefined => s.matchers.find((m) => m.name === "tenant" && m.op === "=")?.value;

/** The silence muting these labels now, if any. */
export function silencing(silences: Iterable<Silence>, labels: Labels, now = Date.now()): Silence | undefined {
  for (const s of silences) if (silenceState(s, now) === "active" && matchesAll(s.matchers, labels)) return s;
  return undefined;
}

export function createSilenceStore(kv: KV) {
  const key = (id: string) => `s.${id}`;
  async function get(id: string): Promise<Silence | undefined> {
    if (!/^[A-Za-z0-9-]{1,64}$/.test(id)) return undefined;
    const e = await kv.get(key(id));
    return e?.operation === "PUT" && e.value.length ? silenceSchema.parse(e.json()) : undefined;
  }
  return {
    get,
    /** Validates and stores a new silence; PermanentError("validation") on bad input. */
    async add(input: unknown, by: string, now = new Date()): Promise<Silence> {
      const parsed = silenceInputSchema.safeParse(input);
      if (!parsed.success)
        throw new PermanentError("validation", parsed.error.issues.map((i) => `${i.path.join(".") || "silence"}: ${i.message}`).join("; "));
      const v: SilenceInput = parsed.data;
      const starts = v.starts_at ? new Date(v.starts_at) : now;
      const ends = v.ends_at ? new Date(v.ends_at) : new Date(starts.getTime() + v.duration!);
      if (ends.getTime() <= starts.getTime()) throw new PermanentError("validation", "ends_at: must be after starts_at");
      if (ends.getTime() <= now.getTime()) throw new PermanentError("validation", "ends_at: must be in the future");
      const silence = silenceSchema.parse({
        id: randomUUID(),
        matchers: v.matchers,
        starts_at: starts.toISOString(),
        ends_at: ends.toISOString(),
        comment: v.comment,
        created_by: by,
        created_at: now.toISOString(),
      });
      await kv.create(key(silence.id), JSON.stringify(silence));
      return silence;
    },
    /** Ends a silence now; undefined when there is none with that id. An expired silence is returned as it is. */
    async expire(id: string, by: string, now = new Date()): Promise<Silence | undefined> {
      const current = await get(id);
      if (!current || silenceState(current, now.getTime()) === "expired") return current;
      const ended = { ...current, ends_at: now.toISOString(), expired_by: by };
      // A pending silence expired before it started ends where it would have started.
      if (Date.parse(ended.starts_at) > now.getTime()) ended.starts_at = ended.ends_at;
      await kv.put(key(id), JSON.stringify(ended));
      return ended;
    },
    async list(): Promise<Silence[]> {
      const out: Silence[] = [];
      for await (const k of await kv.keys("s.>")) {
        const s = await get(k.slice(2));
        if (s) out.push(s);
      }
      // Newest first.
      return out.sort((a, b) => b.created_at.localeCompare(a.created_at));
    },
  };
}
export type SilenceStore = ReturnType<typeof createSilenceStore>;

/** The notifier's view: every silence, current through a KV watch. */
export async function watchSilences(kv: KV, onInvalid: (key: string, err: unknown) => void) {
  const w = await watchKv(kv, "s.>", (v) => silenceSchema.parse(v), onInvalid);
  return {
    silencedBy: (labels: Labels, now = Date.now()) => silencing(w.items.values(), labels, now),
    stop: w.stop,
  };
}
