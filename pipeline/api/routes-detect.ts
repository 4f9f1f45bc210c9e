// GET /v1/detect/windows?tenant=&scope=a,b&from=&to=&window_s=: a tenant's
// window aggregates rebuilt from the ledger (default: every scope, the last
// day, the stack's window length), for `costline detect --tenant` (the ledger
// replay). A tenant key sees only its tenant; an admin key must name one.
import type { ClickHouseClient } from "@clickhouse/client";
import { Hono } from "hono";
import { formatIssues } from "../errors.ts";
import { MAX_REPLAY_WINDOWS, ledgerWindows, ledgerWindowsQuerySchema, replayScopeNames } from "../detect/ledger-windows.ts";
import { tenantScope, type ApiEnv } from "./auth.ts";

export function detectRoutes(client: ClickHouseClient, windowS: number): Hono<ApiEnv> {
  const app = new Hono<ApiEnv>();
  app.get("/detect/windows", async (c) => {
    const scope = tenantScope(c);
    if ("denied" in scope) return c.json({ error: "a tenant key sees only its own tenant" }, 403);
    if (scope.tenant === undefined) return c.json({ error: "an admin key must name the tenant: ?tenant=" }, 400);
    const raw = c.req.query();
    // Default range: the last day up to now.
    const to = raw.to ?? new Date().toISOString();
    const q = ledgerWindowsQuerySchema.safeParse({
      tenant: scope.tenant,
      scopes: raw.scope
        ? raw.scope
            .split(",")
            .map((s) => s.trim())
            .filter(Boolean)
        : replayScopeNames,
      from: raw.from ?? (Number.isNaN(Date.parse(to)) ? undefined : new Date(Date.parse(to) - 86_400_000).toISOString()),
      to,
      window_s: raw.window_s ?? windowS,
    });
    if (!q.success) return c.json({ error: formatIssues(q.error, "query", Infinity) }, 400);
    if (Date.parse(q.data.to) <= Date.parse(q.data.from)) return c.json({ error: "query: to must be after from" }, 400);
    const windows = await ledgerWindows(client, q.data);
    if (windows.length > MAX_REPLAY_WINDOWS)
      return c.json({ error: `more than ${MAX_REPLAY_WINDOWS} windows: narrow from/to or the scopes` }, 400);
    return c.json({ tenant: q.data.tenant, window_s: q.data.window_s, windows });
  });
  return app;
}
