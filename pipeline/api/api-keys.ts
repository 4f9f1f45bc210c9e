// API keys: "cl_<id>_<secret>". Only SHA-256(secret) is stored; a key carries
// a role (admin, or tenant scoped to one tenant). Look-ups are cached in a
// bounded LRU with a time to live, and an id is first checked against the set
// of known key ids (read at most once per TTL), so a flood of random keys
// costs no ClickHouse query each.
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import type { ClickHouseClient } from "@clickhouse/client";
import { queryRows } from "../clickhouse/client.ts";
import { lruTtl } from "./key-cache.ts";

export type Principal = ({ role: "admin"; tenant?: undefined } | { role: "tenant"; tenant: string }) & { keyId?: string };

export interface IssuedKey {
  key: string;
  key_id: string;
  role: Principal["role"];
  tenant: string | null;
}

const KEY = /^cl_([a-z0-9]{12})_([A-Za-z0-9_-]{32,})$/;

export function hashSecret(secret: string): string {
  return createHash("sha256").update(secret).digest("hex");
}

export function newKey(): { key: string; keyId: string; secretHash: string } {
  const keyId = randomBytes(9)
    .toString("base64url")
    .toLowerCase()
    .replace(/[^a-z0-9]/g, "0")
    .slice(0, 12);
  const secret = randomBytes(24).toString("base64url");
  return { key: `cl_${keyId}_${secret}`, keyId, secretHash: hashSecret(secret) };
}

export function parseKey(key: string): { keyId: string; secret: string } | undefined {
  const m = KEY.exec(key.trim());
  return m ? { keyId: m[1]!, secret: m[2]! } : undefined;
}

export function createKeyStore(client: ClickHouseClient, cacheMs = 10_000, cacheSize = 10_000) {
  type KeyRow = { key_id: string; secret_hash: string; tenant: string; role: string; revoked: boolean; name: string; created_at: string };
  const cache = lruTtl<KeyRow | null>(cacheSize, cacheMs);
  let known: { at: number; ids: Set<string> } | undefined;
  let loading: Promise<Set<string>> | undefined;
  let lookups = 0;

  /** Every key id there is, read at most once per TTL (one query however many callers wait). */
  async function knownIds(): Promise<Set<string>> {
    if (known && Date.now() - known.at < cacheMs) return known.ids;
    loading ??= queryRows<{ key_id: string }>(client, "SELECT DISTINCT key_id FROM costline.api_keys")
      .then((rows) => {
        known = { at: Date.now(), ids: new Set(rows.map((r) => r.key_id)) };
        return known.ids;
      })
      .finally(() => (loading = undefined));
    return loading;
  }

  async function row(keyId: string): Promise<KeyRow | null> {
    const hit = cache.get(keyId);
    if (hit !== undefined) return hit;
    if (!(await knownIds()).has(keyId)) {
      cache.set(keyId, null);
      return null;
    }
    lookups++;
    const [r] = await queryRows<KeyRow>(
      client,
      "SELECT key_id, secret_hash, tenant, role, revoked, name, toString(created_at) AS created_at FROM costline.api_keys FINAL WHERE key_id = {id:String}",
      { id: keyId },
    );
    const found = r ?? null;
    cache.set(keyId, found);
    return found;
  }

  /** A new version of the key's row; `createdAt` carries the first version's time over (a revocation keeps it). */
  async function write(keyId: string, secretHash: string, p: Principal, name: string, revoked = false, createdAt?: string): Promise<void> {
    const row = { key_id: keyId, secret_hash: secretHash, tenant: p.tenant ?? "", role: p.role, name, revoked, version: Date.now() };
    await client.insert({
      table: "costline.api_keys",
      values: [createdAt === undefined ? row : { ...row, created_at: createdAt }],
      format: "JSONEachRow",
    });
    cache.delete(keyId);
    known?.ids.add(keyId);
  }

  return {
    /** ClickHouse look-ups of single keys so far (a measure of what a flood of keys costs). */
    lookups: () => lookups,
    /** The principal a presented key stands for, or undefined for a wrong, unknown or revoked key. */
    async verify(key: string): Promise<Principal | undefined> {
      const parsed = parseKey(key);
      if (!parsed) return undefined;
      const r = await row(parsed.keyId);
      if (!r || r.revoked) return undefined;
      const a = Buffer.from(hashSecret(parsed.secret), "hex");
      const b = Buffer.from(r.secret_hash, "hex");
      if (a.length !== b.length || !timingSafeEqual(a, b)) return undefined;
      return r.role === "admin" ? { role: "admin", keyId: r.key_id } : { role: "tenant", tenant: r.tenant, keyId: r.key_id };
    },
    async create(p: Principal, name = ""): Promise<IssuedKey> {
      const k = newKey();
      await write(k.keyId, k.secretHash, p, name);
      return { key: k.key, key_id: k.keyId, role: p.role, tenant: p.tenant ?? null };
    },
    /** Stores a key whose secret was chosen elsewhere (COSTLINE_ADMIN_KEY). */
    async register(key: string, p: Principal, name: string): Promise<string> {
      const parsed = parseKey(key);
      if (!parsed) throw new Error('an API key looks like "cl_<12 letters or digits>_<secret of 32+ characters>"');
      // Registered again at every start: the key keeps the time it was first stored.
      await write(parsed.keyId, hashSecret(parsed.secret), p, name, false, (await row(parsed.keyId))?.created_at);
      return parsed.keyId;
    },
    async revoke(keyId: string): Promise<boolean> {
      const r = await row(keyId);
      if (!r) return false;
      await write(
        keyId,
        r.secret_hash,
        r.role === "admin" ? { role: "admin" } : { role: "tenant", tenant: r.tenant },
        r.name,
        true,
        r.created_at,
      );
      return true;
    },
    async list(): Promise<{ key_id: string; role: string; tenant: string; name: string; revoked: boolean; created_at: string }[]> {
      return queryRows(
        client,
        // ORDER BY: newest keys first.
        "SELECT key_id, role, tenant, name, revoked, toString(created_at) AS created_at FROM costline.api_keys FINAL ORDER BY created_at DESC",
      );
    },
  };
}
export type KeyStore = ReturnType<typeof createKeyStore>;
