// GET /v1/alerts: a tenant's alerts (an admin's: every tenant's, or one with
// ?tenant=), filtered by state, severity, type, scope and detection time.
//
//   curl -H "Authorization: Bearer $KEY" 'localhost:8080/v1/alerts?state=firing&severity=high,critical&limit=50'
import type { ClickHouseClient } from "@clickhouse/client";
import { Hono } from "hono";
import { formatIssues } from "../errors.ts";
import { alertsQuerySchema, listAlerts } from "../queries/alerts-query.ts";
import { tenantScope, type ApiEnv } from "./auth.ts";

export function alertRoutes(client: ClickHouseClient): Hono<ApiEnv> {
  const app = new Hono<ApiEnv>();
  app.get("/alerts", async (c) => {
    const scope = tenantScope(c);
    if ("denied" in scope) return c.json({ error: "a tenant key sees only its own tenant" }, 403);
    const { tenant: _ignored, ...rest } = c.req.query();
    const q = alertsQuerySchema.safeParse({ ...rest, severity: c.req.queries("severity"), type: c.req.queries("type") });
    if (!q.success) return c.json({ error: formatIssues(q.error, "query", Infinity) }, 400);
    const alerts = await listAlerts(client, q.data, scope.tenant);
    // A full page says there may be more: the next one starts at offset + limit.
    const next = alerts.length === q.data.limit ? q.data.offset + q.data.limit : null;
    return c.json({ tenant: scope.tenant ?? null, alerts, next_offset: next });
  });
  return app;
}
