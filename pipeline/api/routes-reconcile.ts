// Reconciliation with a provider's bill over HTTP (`costline reconcile` calls it):
//   POST /v1/reconcile  {content, format?, tenant?, threshold?}  admin: compare, store, alert
//   GET  /v1/admin/reconcile[?provider=&limit=]                 admin: the stored comparisons, newest first
import type { ClickHouseClient } from "@clickhouse/client";
import { Hono } from "hono";
import * as z from "zod";
import { PermanentError, formatIssues } from "../errors.ts";
import { queryRows } from "../clickhouse/client.ts";
import { parseBill } from "../reconcile/bill-formats.ts";
import { reconcile } from "../reconcile/reconcile.ts";
import { requireAdmin, type ApiEnv } from "./auth.ts";

export const reconcileBody = z.object({
  content: z.string().min(1),
  format: z.enum(["openai", "anthropic", "focus", "cur"]).optional(),
  tenant: z.string().min(1).max(256).optional(),
  threshold: z.number().min(0).max(100).optional(),
});
export const reconcileListQuery = z.object({
  provider: z.string().max(64).default(""),
  limit: z.coerce.number().int().min(1).max(10_000).default(500),
});

export function reconcileRoutes(client: ClickHouseClient, defaultThreshold: number): Hono<ApiEnv> {
  const app = new Hono<ApiEnv>();
  const admin = requireAdmin();

  app.post("/reconcile", admin, async (c) => {
    const b = reconcileBody.safeParse(await c.req.json().catch(() => null));
    if (!b.success) return c.json({ error: formatIssues(b.error, "body", 20) }, 400);
    try {
      const bill = parseBill(b.data.content, b.data.format);
      return c.json(await reconcile(client, bill, { tenant: b.data.tenant, threshold: b.data.threshold ?? defaultThreshold }));
    } catch (err) {
      if (err instanceof PermanentError || err instanceof SyntaxError) return c.json({ error: err.message }, 400);
      throw err;
    }
  });

  app.get("/admin/reconcile", admin, async (c) => {
    const q = reconcileListQuery.safeParse(c.req.query());
    if (!q.success) return c.json({ error: formatIssues(q.error, "query", 20) }, 400);
    const rows = await queryRows(
      client,
      // ORDER BY: newest import first, then its days and models in order.
      `SELECT run_id, toString(imported_at) AS imported_at, file_format, provider, tenant, toString(day) AS day, model, bill_models, projects,
              toString(billed_usd) AS billed_usd, toString(ledger_usd) AS ledger_usd, toString(diff_usd) AS diff_usd, drift, threshold, alerted
       FROM costline.reconciliation WHERE {provider:String} = '' OR provider = {provider:String}
       ORDER BY imported_at DESC, day, model LIMIT {limit:UInt32}`,
      q.data,
    );
    return c.json({ rows });
  });
  return app;
}
