// Controls: anyone sees their tenant's, admins change them. A
// control set here is an operator's override (set_by "operator:<key id>"),
// which the detector's escalation never overwrites while it lasts.
import { Hono } from "hono";
import * as z from "zod";
import { formatIssues } from "../errors.ts";
import { controlSchema, controlScopeSchema } from "../../schemas/index.ts";
import type { ControlStore } from "../guard/control-store.ts";
import { requireAdmin, tenantScope, type ApiEnv } from "./auth.ts";

export const controlBody = controlSchema.omit({ set_by: true, set_at: true }).extend({ reason: z.string().min(1).max(500) });
export const clearBody = z.object({ scope: controlScopeSchema, reason: z.string().min(1).max(500) });
const issues = (e: z.ZodError) => formatIssues(e, "body", Infinity);
const SCOPE_KEYS = Object.keys(controlScopeSchema.shape) as (keyof typeof controlScopeSchema.shape)[];
const pick = (q: Record<string, string>, keys: readonly string[]) => Object.fromEntries(keys.filter((k) => k in q).map((k) => [k, q[k]]));

export function controlRoutes(store: ControlStore): Hono<ApiEnv> {
  const app = new Hono<ApiEnv>();
  const admin = requireAdmin();
  const by = (keyId: string | undefined) => `operator:${keyId ?? "unknown"}`;

  app.get("/controls", async (c) => {
    const scope = tenantScope(c);
    if ("denied" in scope) return c.json({ error: "a tenant key sees only its own tenant" }, 403);
    const all = await store.listControls();
    return c.json({ controls: scope.tenant === undefined ? all : all.filter((x) => x.scope.tenant === scope.tenant) });
  });
  app.put("/controls", admin, async (c) => {
    const body = controlBody.safeParse(await c.req.json().catch(() => null));
    if (!body.success) return c.json({ error: issues(body.error) }, 400);
    const control = await store.setControl({ ...body.data, set_by: "", set_at: new Date().toISOString() }, by(c.get("principal").keyId));
    return c.json(control);
  });
  app.delete("/controls", admin, async (c) => {
    // The scope in the query string (DELETE /v1/controls?tenant=acme&persona_id=x&reason=…), as
    // clients that send no body on DELETE need, or in a JSON body as PUT takes it.
    const q = c.req.query();
    const fromQuery = q.tenant !== undefined;
    const body = fromQuery
      ? clearBody.safeParse({ scope: pick(q, SCOPE_KEYS), reason: q.reason })
      : clearBody.safeParse(await c.req.json().catch(() => null));
    if (!body.success) return c.json({ error: formatIssues(body.error, fromQuery ? "query" : "body", Infinity) }, 400);
    const cleared = await store.clearControl(body.data.scope, by(c.get("principal").keyId), body.data.reason);
    return cleared ? c.json({ cleared: body.data.scope }) : c.json({ error: "no control on that scope" }, 404);
  });
  return app;
}
