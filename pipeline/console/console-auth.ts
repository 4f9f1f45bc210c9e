// Who a console request is from, and whether a write may go ahead. Sign-in
// turns an API key into a session cookie (HttpOnly, SameSite=Strict, Secure
// over HTTPS); every request re-verifies the session's key, so revoking it
// signs the browser out. Writes need the same origin (Origin, else
// Sec-Fetch-Site, when the browser sends them) and the session's CSRF token.
import type { Context, MiddlewareHandler } from "hono";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";
import type { KeyStore, Principal } from "../api/api-keys.ts";
import { csrfMatches, SESSION_COOKIE, type Session, type SessionStore } from "./session.ts";

export type ConsoleEnv = {
  Variables: {
    session: Session;
    principal: Principal;
    /** The tenant the pages are about: a tenant key's own, or the one an admin picked (undefined: every tenant). */
    tenant: string | undefined;
    form: Record<string, string>;
    requestId: string;
  };
};

/** A same-site path to go back to, never another origin ("//evil", "/\\evil", "https://…"). */
export function localPath(next: unknown, fallback = "/"): string {
  return typeof next === "string" && /^\/(?![/\\])[^\s\\]*$/.test(next) && next.length < 2000 ? next : fallback;
}

export function sameOrigin(c: Context): boolean {
  const origin = c.req.header("origin");
  const host = c.req.header("host");
  if (origin !== undefined) {
    try {
      return origin !== "null" && new URL(origin).host === host;
    } catch {
      return false;
    }
  }
  const site = c.req.header("sec-fetch-site");
  return site === undefined || site === "same-origin" || site === "none";
}

export function setSessionCookie(c: Context, s: Session, lifetimeS: number): void {
  setCookie(c, SESSION_COOKIE, s.id, {
    httpOnly: true,
    sameSite: "Strict",
    secure: new URL(c.req.url).protocol === "https:" || c.req.header("x-forwarded-proto") === "https",
    path: "/",
    maxAge: lifetimeS,
  });
}

export function clearSessionCookie(c: Context): void {
  deleteCookie(c, SESSION_COOKIE, { path: "/" });
}

/** Pages and writes need a live session; without one a page redirects to the sign-in form. */
export function requireSession(sessions: SessionStore, keys: KeyStore): MiddlewareHandler<ConsoleEnv> {
  return async (c, next) => {
    const session = sessions.get(getCookie(c, SESSION_COOKIE));
    const principal = session ? await keys.verify(session.key) : undefined;
    if (!session || !principal) {
      if (session) sessions.close(session.id);
      clearSessionCookie(c);
      if (c.req.method !== "GET" || c.req.header("hx-request")) return c.text("signed out; sign in again", 401);
      const url = new URL(c.req.url);
      return c.redirect(`/login?next=${encodeURIComponent(localPath(url.pathname + url.search))}`, 303);
    }
    c.set("session", session);
    c.set("principal", principal);
    c.set("tenant", principal.role === "admin" ? session.tenant || undefined : principal.tenant);
    if (c.req.method === "POST") {
      const form = (await c.req.parseBody().catch(() => ({}))) as Record<string, unknown>;
      if (!sameOrigin(c) || !csrfMatches(session, form._csrf))
        return c.text("this form is out of date or came from another site; reload the page", 403);
      c.set("form", Object.fromEntries(Object.entries(form).filter(([, v]) => typeof v === "string")) as Record<string, string>);
    }
    await next();
  };
}

/** Writes (budgets, controls, silences) are an admin's, as in the API. */
export function requireAdminSession(): MiddlewareHandler<ConsoleEnv> {
  return async (c, next) => {
    if (c.get("principal").role !== "admin") return c.text("this needs an admin key", 403);
    await next();
  };
}
