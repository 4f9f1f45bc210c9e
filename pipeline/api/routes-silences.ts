// Silences: GET lists them (a tenant key sees the silences naming its tenant
// with tenant=…; an admin sees all, or one tenant's with ?tenant=), POST adds
// one and DELETE expires one (admin only; the silence stays listable).
//
//   curl -X POST -H "Authorization: Bearer $ADMIN" localhost:8080/v1/silences \
//     -d '{"matchers": ["tenant=acme", "type=~\"spike|creep\""], "duration": "2h", "comment": "load test"}'
import { Hono } from "hono";
import { PermanentError } from "../errors.ts";
import type { SilenceStore } from "../notify/silences.ts";
import { silenceState, silenceTenant } from "../notify/silences.ts";
import { requireAdmin, tenantScope, type ApiEnv } from "./auth.ts";

export function silenceRoutes(store: SilenceStore): Hono<ApiEnv> {
  const app = new Hono<ApiEnv>();
  const admin = requireAdmin();
  const by = (keyId: string | undefined) => `operator:${keyId ?? "unknown"}`;
  const withState = <T extends Parameters<typeof silenceState>[0]>(s: T) => ({ ...s, state: silenceState(s) });

  app.get("/silences", async (c) => {
    const scope = tenantScope(c);
    if ("denied" in scope) return c.json({ error: "a tenant key sees only its own tenant" }, 403);
    const state = c.req.query("state");
    if (state && !["active", "pending", "expired", "all"].includes(state))
      return c.json({ error: "state: one of active, pending, expired, all" }, 400);
    const all = (await store.list()).map(withState);
    const mine = scope.tenant === undefined ? all : all.filter((s) => silenceTenant(s) === scope.tenant);
    return c.json({ silences: state && state !== "all" ? mine.filter((s) => s.state === state) : mine });
  });
  app.get("/silences/:id", async (c) => {
    const scope = tenantScope(c);
    const s = await store.get(c.req.param("id"));
    if (!s || "denied" in scope || (scope.tenant !== undefined && silenceTenant(s) !== scope.tenant))
      return c.json({ error: "no such silence" }, 404);
    return c.json(withState(s));
  });
  app.post("/silences", admin, async (c) => {
    const body = await c.req.json().catch(() => null);
    try {
      return c.json(withState(await store.add(body, by(c.get("principal").keyId))), 201);
    } catch (err) {
      if (err instanceof PermanentError) return c.json({ error: err.message }, 400);
      throw err;
    }
  });
  app.delete("/silences/:id", admin, async (c) => {
    const s = await store.expire(c.req.param("id"), by(c.get("principal").keyId));
    return s ? c.json(withState(s)) : c.json({ error: "no such silence" }, 404);
  });
  return app;
}
