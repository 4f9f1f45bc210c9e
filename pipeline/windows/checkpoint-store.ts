// Where a stateful stage keeps each partition's checkpoint: a KV bucket
// holding, per partition, a head (`p<n>.head`: generation, slot, chunk count,
// digest) and the checkpoint's bytes in chunks under one of two slots
// (`p<n>.s<slot>.<i>`). A save writes the chunks of the slot the current head
// does not name, then moves the head by compare-and-set on its revision — so
// a crash mid-save leaves the previous checkpoint whole, and two writers (an
// owner that lost its lease and its successor) cannot both move the head from
// the same revision; a save first checks that the head is still the one it
// last saw, so a writer that lost the race does not overwrite the winner's
// chunks. A load checks every digest and refuses a torn checkpoint.
//
// Beside the bytes, a checkpoint may carry a key log (the windower's event
// keys per window start): append-only data that would cost far more to
// rewrite whole every second than the rest. A save writes only the keys given
// since the last save, in new log chunks (`p<n>.k.<writer>.<i>`, each writer
// its own names, so no two writers ever write one key); the head lists the
// chunks in force, and a chunk whose window starts are all final is dropped
// from it and its key reused. The newest chunk, while small, is merged into
// the next save's, so a partition holds a few chunks per window start, not
// one per save. A writer that loaded another's checkpoint rewrites that log
// under its own names on its first save, then deletes the other's.
//
// Sections are the other kind of data a save need not rewrite whole: per
// window start, a text that replaces the previous one of that start (the
// windower's open windows of the start). A save writes only the sections given
// since the last one, in chunks of their own (`p<n>.k.<writer>.<i>` too); the
// head lists each live start's chunks, so the windows of starts that no longer
// change (past their end, waiting out the lateness) are written once, not at
// every checkpoint.
import { createHash, randomBytes } from "node:crypto";
import type { KV } from "@nats-io/kv";
import { TransientError, errorMessage } from "../errors.ts";

/** Keys of one window start, digests concatenated (the store never splits one). */
export type LogEntry = readonly [start: number, joined: string];

export interface KeyLog {
  /** Keys added since the last save, per start. The store owns them from the call on: a failed save keeps them for the next. */
  fresh: readonly LogEntry[];
  /** The starts whose keys (and sections) are still needed; a chunk that holds none of them is dropped. */
  live: ReadonlySet<number>;
  /**
   * Per start whose section changed since the last save, its whole new text
   * (replacing the one saved before). Owned by the store from the call on, like `fresh`.
   */
  sections?: readonly LogEntry[];
}

export interface CheckpointStore {
  /** The latest checkpoint of the partition, or null when it has none. */
  load(partition: number): Promise<Uint8Array | null>;
  /** The key log of the checkpoint the last `load` returned (empty without one). */
  loadedLog(partition: number): LogEntry[];
  /** The sections of the checkpoint the last `load` returned, one per start (empty without any). */
  loadedSections(partition: number): LogEntry[];
  /** Saves a checkpoint; resolves once it is durable. Throws if another writer moved the head since this one's last load or save. */
  save(partition: number, data: Uint8Array, log?: KeyLog): Promise<void>;
}

interface LogChunk {
  key: string;
  starts: number[];
  bytes: number;
  sha256: string;
}

/** One start's section: its text split over chunks, in order. */
interface Section {
  start: number;
  chunks: { key: string; bytes: number; sha256: string }[];
}

interface Head {
  gen: number;
  slot: 0 | 1;
  chunks: number;
  bytes: number;
  sha256: string;
  /** The key log's chunks in force (absent: no log). */
  log?: LogChunk[];
  /** The sections in force, one per live start that has one. */
  sections?: Section[];
}

/** One partition's writer: what its last durable head holds and what waits for the next save. */
interface Writer {
  /** A name of this writer's own, in its log chunks' keys. */
  name: string;
  /** The head revision this writer last saw (0: none existed); null once a save failed: read again before the next. */
  revision: number | null;
  /** The log chunks the writer's last durable head lists. */
  chunks: LogChunk[];
  /** The sections the writer's last durable head lists. */
  sections: Section[];
  /** The newest of them while smaller than half a chunk, with its entries: merged into the next save's chunk. */
  tail: { key: string; entries: LogEntry[] } | null;
  /** Keys of this writer no durable head lists, to reuse. */
  free: string[];
  next: number;
  /** Another writer's log and section chunks the head listed when this one took over: deleted after its first save. */
  foreign: string[];
}

const CHUNK = 256 * 1024;

export function createCheckpointStore(kv: KV, chunkBytes = CHUNK): CheckpointStore {
  const writers = new Map<number, Writer>();
  /** Keys given to `save` and not yet in a durable chunk, per partition (a loaded log waits here to be rewritten). */
  const pending = new Map<number, LogEntry[]>();
  /** Sections given to `save` and not yet in a durable head, per partition and start (the newest text of each). */
  const pendingSections = new Map<number, Map<number, string>>();
  const loaded = new Map<number, LogEntry[]>();
  const loadedSections = new Map<number, LogEntry[]>();
  const queues = new Map<number, Promise<void>>();
  const headKey = (p: number) => `p${p}.head`;
  const chunkKey = (p: number, slot: number, i: number) => `p${p}.s${slot}.${i}`;
  const logPrefix = (p: number) => `p${p}.k.`;
  const digest = (data: Uint8Array) => createHash("sha256").update(data).digest("hex");

  async function readHead(p: number): Promise<{ revision: number; head: Head | null }> {
    const e = await kv.get(headKey(p));
    if (!e || e.operation !== "PUT" || e.value.length === 0) return { revision: e?.revision ?? 0, head: null };
    return { revision: e.revision, head: JSON.parse(e.string()) as Head };
  }

  const writerOf = (seen: { revision: number; head: Head | null }): Writer => ({
    name: randomBytes(6).toString("base64url"),
    revision: seen.revision,
    chunks: [],
    sections: [],
    tail: null,
    free: [],
    next: 0,
    foreign: [...(seen.head?.log ?? []).map((c) => c.key), ...(seen.head?.sections ?? []).flatMap((s) => s.chunks.map((c) => c.key))],
  });

  async function getChecked(key: string, what: string, bytes: number, sha256: string): Promise<Uint8Array> {
    const e = await kv.get(key);
    if (!e || e.operation !== "PUT") throw new TransientError("unavailable", `${what} is missing`);
    if (e.value.length !== bytes || digest(e.value) !== sha256)
      throw new TransientError("unavailable", `${what} does not match its digest`);
    return e.value;
  }

  /** Groups entries into chunk payloads of at most `chunkBytes` (an entry larger than that goes alone). */
  function payloads(entries: LogEntry[]): LogEntry[][] {
    const out: LogEntry[][] = [];
    let group: LogEntry[] = [];
    let size = 2;
    for (const e of entries) {
      const n = e[1].length + 24;
      if (group.length && size + n > chunkBytes) {
        out.push(group);
        group = [];
        size = 2;
      }
      group.push(e);
      size += n;
    }
    if (group.length) out.push(group);
    return out;
  }

  /** A chunk key of this writer that no durable head names: a freed one, or a new one. */
  const claimKey = (p: number, w: Writer) => w.free.pop() ?? `${logPrefix(p)}${w.name}.${w.next++}`;

  /** Deletes the log chunks of the writer this one took over from: no head lists them any more. */
  async function sweep(w: Writer): Promise<void> {
    while (w.foreign.length) {
      await kv.delete(w.foreign.at(-1)!);
      w.foreign.pop();
    }
  }

  const store: CheckpointStore = {
    async load(p) {
      const seen = await readHead(p);
      const w = writerOf(seen);
      writers.set(p, w);
      pending.delete(p);
      pendingSections.delete(p);
      loaded.set(p, []);
      loadedSections.set(p, []);
      const head = seen.head;
      if (!head) return null;
      const parts: Uint8Array[] = [];
      for (let i = 0; i < head.chunks; i++) {
        const e = await kv.get(chunkKey(p, head.slot, i));
        if (!e || e.operation !== "PUT") throw new TransientError("unavailable", `checkpoint of partition ${p}: chunk ${i} is missing`);
        parts.push(e.value);
      }
      const data = Buffer.concat(parts);
      if (data.length !== head.bytes || digest(data) !== head.sha256)
        throw new TransientError("unavailable", `checkpoint of partition ${p} (generation ${head.gen}) does not match its digest`);
      const log: LogEntry[] = [];
      for (const c of head.log ?? []) {
        const value = await getChecked(c.key, `checkpoint of partition ${p}: key log chunk ${c.key}`, c.bytes, c.sha256);
        for (const e of JSON.parse(Buffer.from(value).toString("utf8")) as LogEntry[]) log.push(e);
      }
      const sections: LogEntry[] = [];
      for (const s of head.sections ?? []) {
        const parts: Uint8Array[] = [];
        for (const c of s.chunks)
          parts.push(await getChecked(c.key, `checkpoint of partition ${p}: section chunk ${c.key}`, c.bytes, c.sha256));
        sections.push([s.start, Buffer.concat(parts).toString("utf8")]);
      }
      loaded.set(p, log);
      loadedSections.set(p, sections);
      // Rewritten under this writer's names on its first save; the predecessor's chunks are deleted after it.
      pending.set(p, log.slice());
      pendingSections.set(p, new Map(sections));
      return data;
    },

    loadedLog(p) {
      const log = loaded.get(p) ?? [];
      loaded.delete(p); // read once, by the stage that loaded it
      return log;
    },

    loadedSections(p) {
      const sections = loadedSections.get(p) ?? [];
      loadedSections.delete(p); // read once, like the log
      return sections;
    },

    save(p, data, log) {
      // Taken over at once: from here on a failure keeps them for the next save.
      if (log?.fresh.length) {
        const list = pending.get(p);
        if (list) for (const e of log.fresh) list.push(e);
        else pending.set(p, log.fresh.slice());
      }
      if (log?.sections?.length) {
        let map = pendingSections.get(p);
        if (!map) pendingSections.set(p, (map = new Map()));
        for (const [start, text] of log.sections) map.set(start, text);
      }
      // One save at a time per partition (a stop's flush may meet a periodic emission).
      const run = (queues.get(p) ?? Promise.resolve()).then(() => saveNow(p, data, log));
      const settled = run.catch(() => undefined);
      queues.set(p, settled);
      void settled.then(() => queues.get(p) === settled && queues.delete(p));
      return run;
    },
  };

  async function saveNow(p: number, data: Uint8Array, log: KeyLog | undefined): Promise<void> {
    let w = writers.get(p);
    if (!w) writers.set(p, (w = writerOf(await readHead(p))));
    const current = await readHead(p);
    // Another writer moved the head since: stop before touching the slot its checkpoint may be in.
    if (w.revision !== null && current.revision !== w.revision) {
      w.revision = null;
      throw new TransientError("unavailable", `checkpoint of partition ${p} was moved by another writer (revision ${current.revision})`);
    }
    // After a failed save, this writer goes on from the head as it is now (the lease says who writes).
    const seen = { revision: current.revision, head: current.head };
    const slot: 0 | 1 = seen.head?.slot === 0 ? 1 : 0;
    const chunks = Math.max(1, Math.ceil(data.length / chunkBytes));
    for (let i = 0; i < chunks; i++) await kv.put(chunkKey(p, slot, i), data.subarray(i * chunkBytes, (i + 1) * chunkBytes));
    const head: Head = { gen: (seen.head?.gen ?? 0) + 1, slot, chunks, bytes: data.length, sha256: digest(data) };

    // The key log: the chunks still needed, and new ones for the keys given since the last durable save.
    const taken: string[] = [];
    let dropped: string[] = [];
    let consumed = 0;
    let given: LogEntry[] = [];
    let tail: Writer["tail"] = null;
    // A copy: sections given while this save runs wait for the next one.
    const givenSections = [...(pendingSections.get(p) ?? [])];
    const sections: Section[] = [];
    if (log) {
      given = pending.get(p) ?? [];
      consumed = given.length;
      const fresh = given.filter((e) => log.live.has(e[0]));
      // The newest chunk, if small, is rewritten with the fresh keys rather than followed by another small one.
      const merged = fresh.length > 0 && w.tail !== null ? w.tail : null;
      const entries = merged ? [...merged.entries.filter((e) => log.live.has(e[0])), ...fresh] : fresh;
      const keep = w.chunks.filter((c) => c.key !== merged?.key && c.starts.some((start) => log.live.has(start)));
      dropped = w.chunks.filter((c) => !keep.includes(c)).map((c) => c.key);
      if (w.tail && keep.some((c) => c.key === w.tail!.key)) tail = w.tail;
      const written: LogChunk[] = [];
      try {
        for (const group of payloads(entries)) {
          const value = Buffer.from(JSON.stringify(group), "utf8");
          const key = claimKey(p, w);
          taken.push(key);
          await kv.put(key, value);
          written.push({ key, starts: [...new Set(group.map((e) => e[0]))], bytes: value.length, sha256: digest(value) });
          tail = value.length < chunkBytes / 2 ? { key, entries: group } : null;
        }
        // The sections given since the last durable save replace their starts' sections; the others stay as they are.
        for (const [start, text] of givenSections) {
          if (!log.live.has(start)) continue;
          const value = Buffer.from(text, "utf8");
          const section: Section = { start, chunks: [] };
          for (let at = 0; at === 0 || at < value.length; at += chunkBytes) {
            const part = value.subarray(at, at + chunkBytes);
            const key = claimKey(p, w);
            taken.push(key);
            await kv.put(key, part);
            section.chunks.push({ key, bytes: part.length, sha256: digest(part) });
          }
          sections.push(section);
        }
      } catch (err) {
        w.free.push(...taken); // no durable head lists them
        throw err;
      }
      head.log = [...keep, ...written];
      const rewritten = new Set(sections.map((s) => s.start));
      const kept = w.sections.filter((s) => log.live.has(s.start) && !rewritten.has(s.start));
      for (const s of w.sections) if (!kept.includes(s)) for (const c of s.chunks) dropped.push(c.key);
      head.sections = [...kept, ...sections];
    }
    let revision: number;
    try {
      revision =
        seen.revision === 0
          ? await kv.create(headKey(p), JSON.stringify(head))
          : await kv.update(headKey(p), JSON.stringify(head), seen.revision);
    } catch (err) {
      w.revision = null;
      w.free.push(...taken);
      throw new TransientError("unavailable", `checkpoint of partition ${p} was moved by another writer: ${errorMessage(err)}`, {
        cause: err,
      });
    }
    w.revision = revision;
    if (log) {
      w.chunks = head.log!;
      w.sections = head.sections!;
      const map = pendingSections.get(p);
      // Durable now, unless a newer text of the start was given meanwhile.
      for (const [start, text] of givenSections) if (map?.get(start) === text) map.delete(start);
      w.tail = tail;
      w.free.push(...dropped);
      // What was given while this save ran waits for the next.
      if (pending.get(p) === given) given.splice(0, consumed);
      // Garbage only: tried again after the next save if it fails.
      if (w.foreign.length) await sweep(w).catch(() => undefined);
    }
  }
  return store;
}
