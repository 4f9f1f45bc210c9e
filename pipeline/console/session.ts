// Console sessions: an opaque random id in an HttpOnly, SameSite=Strict
// cookie; everything else stays on the server. A session keeps the API key it
// was opened with (never sent back to the browser) so each request verifies
// it again through the key store: a revoked key ends its sessions within the
// store's cache time. Sessions end after an idle time and at an absolute
// lifetime, and the store is bounded so a flood of sign-ins cannot grow it.
import { randomBytes, timingSafeEqual } from "node:crypto";

export interface Session {
  id: string;
  key: string;
  csrf: string;
  createdAt: number;
  seenAt: number;
  /** The tenant an admin is looking at ("" for every tenant). */
  tenant: string;
  /** A message for the next page shown (after a write redirects). */
  flash?: { notice?: string; error?: string };
}

export interface SessionOptions {
  idleMs?: number;
  lifetimeMs?: number;
  maxSessions?: number;
  now?: () => number;
}

export const SESSION_COOKIE = "costline_session";

const token = () => randomBytes(32).toString("base64url");

export function createSessionStore(opts: SessionOptions = {}) {
  const idleMs = opts.idleMs ?? 60 * 60_000;
  const lifetimeMs = opts.lifetimeMs ?? 12 * 60 * 60_000;
  const max = opts.maxSessions ?? 10_000;
  const now = opts.now ?? Date.now;
  // Insertion order is creation order: the first entry is the oldest session.
  const sessions = new Map<string, Session>();

  const expired = (s: Session, t: number) => t - s.seenAt > idleMs || t - s.createdAt > lifetimeMs;

  return {
    open(key: string): Session {
      const t = now();
      for (const [id, s] of sessions) if (expired(s, t)) sessions.delete(id);
      while (sessions.size >= max) sessions.delete(sessions.keys().next().value!);
      const s: Session = { id: token(), key, csrf: token(), createdAt: t, seenAt: t, tenant: "" };
      sessions.set(s.id, s);
      return s;
    },
    /** The live session with this id (its idle clock restarts), or undefined. */
    get(id: string | undefined): Session | undefined {
      if (!id) return undefined;
      const s = sessions.get(id);
      if (!s) return undefined;
      const t = now();
      if (expired(s, t)) {
        sessions.delete(id);
        return undefined;
      }
      s.seenAt = t;
      return s;
    },
    close(id: string): void {
      sessions.delete(id);
    },
    size: () => sessions.size,
  };
}
export type SessionStore = ReturnType<typeof createSessionStore>;

/** Constant-time comparison of a submitted CSRF token with the session's. */
export function csrfMatches(session: Session, submitted: unknown): boolean {
  if (typeof submitted !== "string") return false;
  const a = Buffer.from(submitted);
  const b = Buffer.from(session.csrf);
  return a.length === b.length && timingSafeEqual(a, b);
}
