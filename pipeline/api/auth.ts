// Bearer API keys on every /v1 route. A tenant key is scoped to its tenant in
// every endpoint; an admin key may name any tenant.
import type { Context, MiddlewareHandler } from "hono";
import type { KeyStore, Principal } from "./api-keys.ts";

export type ApiEnv = { Variables: { principal: Principal; requestId: string } };

export function requireKey(keys: KeyStore): MiddlewareHandler<ApiEnv> {
  return async (c, next) => {
    const header = c.req.header("authorization") ?? "";
    const key = /^Bearer\s+(.+)$/i.exec(header)?.[1];
    const principal = key ? await keys.verify(key) : undefined;
    if (!principal) {
      c.header("WWW-Authenticate", 'Bearer realm="costline"');
      return c.json({ error: key ? "invalid or revoked API key" : "an API key is required (Authorization: Bearer cl_…)" }, 401);
    }
    c.set("principal", principal);
    await next();
  };
}

export function requireAdmin(): MiddlewareHandler<ApiEnv> {
  return async (c, next) => {
    if (c.get("principal").role !== "admin") return c.json({ error: "this endpoint needs an admin key" }, 403);
    await next();
  };
}

/**
 * The tenant a request is about: a tenant key's own tenant (a different
 * ?tenant= is refused), or what an admin names (undefined: every tenant).
 */
export function tenantScope(c: Context<ApiEnv>): { tenant: string | undefined } | { denied: true } {
  const p = c.get("principal");
  const asked = c.req.query("tenant");
  if (p.role === "admin") return { tenant: asked || undefined };
  if (asked && asked !== p.tenant) return { denied: true };
  return { tenant: p.tenant };
}
