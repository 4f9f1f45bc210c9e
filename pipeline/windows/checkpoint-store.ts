// Where the windower keeps each partition's checkpoint: a KV bucket holding,
// per partition, a head (`p<n>.head`: generation, slot, chunk count, digest)
// and the checkpoint's bytes in chunks under one of two slots
// (`p<n>.s<slot>.<i>`). A save writes the chunks of the slot the current head
// does not name, then moves the head by compare-and-set on its revision — so
// a crash mid-save leaves the previous checkpoint whole, and two writers (an
// owner that lost its lease and its successor) cannot both move the head from
// the same revision; a save first checks that the head is still the one it
// last saw, so a writer that lost the race does not overwrite the winner's
// chunks. A load checks the digest and refuses a torn checkpoint.
import { createHash } from "node:crypto";
import type { KV } from "@nats-io/kv";
import { TransientError, errorMessage } from "../errors.ts";

interface Head {
  gen: number;
  slot: 0 | 1;
  chunks: number;
  bytes: number;
  sha256: string;
}

export interface CheckpointStore {
  /** The latest checkpoint of the partition, or null when it has none. */
  load(partition: number): Promise<Uint8Array | null>;
  /** Saves a checkpoint; resolves once it is durable. Throws if another writer moved the head since this one's last load or save. */
  save(partition: number, data: Uint8Array): Promise<void>;
}

const CHUNK = 256 * 1024;

export function createCheckpointStore(kv: KV, chunkBytes = CHUNK): CheckpointStore {
  /** The head revision each partition's last load or save saw (0: none existed). */
  const revisions = new Map<number, { revision: number; head: Head | null }>();
  const headKey = (p: number) => `p${p}.head`;
  const chunkKey = (p: number, slot: number, i: number) => `p${p}.s${slot}.${i}`;
  const digest = (data: Uint8Array) => createHash("sha256").update(data).digest("hex");

  async function readHead(p: number): Promise<{ revision: number; head: Head | null }> {
    const e = await kv.get(headKey(p));
    if (!e || e.operation !== "PUT" || e.value.length === 0) return { revision: e?.revision ?? 0, head: null };
    return { revision: e.revision, head: JSON.parse(e.string()) as Head };
  }

  return {
    async load(p) {
      const seen = await readHead(p);
      revisions.set(p, seen);
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
      return data;
    },

    async save(p, data) {
      const seen = revisions.get(p) ?? (await readHead(p));
      // Another writer moved the head since: stop before touching the slot its checkpoint may be in.
      const now = await readHead(p);
      if (now.revision !== seen.revision) {
        revisions.delete(p);
        throw new TransientError("unavailable", `checkpoint of partition ${p} was moved by another writer (revision ${now.revision})`);
      }
      const slot: 0 | 1 = seen.head?.slot === 0 ? 1 : 0;
      const chunks = Math.max(1, Math.ceil(data.length / chunkBytes));
      for (let i = 0; i < chunks; i++) await kv.put(chunkKey(p, slot, i), data.subarray(i * chunkBytes, (i + 1) * chunkBytes));
      const head: Head = { gen: (seen.head?.gen ?? 0) + 1, slot, chunks, bytes: data.length, sha256: digest(data) };
      let revision: number;
      try {
        revision =
          seen.revision === 0
            ? await kv.create(headKey(p), JSON.stringify(head))
            : await kv.update(headKey(p), JSON.stringify(head), seen.revision);
      } catch (err) {
        revisions.delete(p);
        throw new TransientError("unavailable", `checkpoint of partition ${p} was moved by another writer: ${errorMessage(err)}`, {
          cause: err,
        });
      }
      revisions.set(p, { revision, head });
    },
  };
}
