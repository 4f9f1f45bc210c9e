// GET /v1/costs, /v1/reports/usage, /v1/coverage and /v1/totals: aggregate
// questions, answered from rollups where one holds the answer.
import { Hono } from "hono";
import * as z from "zod";
import { formatIssues } from "../errors.ts";
import { queryRows } from "../clickhouse/client.ts";
import { chTime } from "../ledger/ledger-row.ts";
import { buildCostsQuery, costsQuerySchema } from "../queries/costs-query.ts";
import { sqlFile } from "../queries/sql-files.ts";
import { sharedCostKinds } from "../../schemas/index.ts";
import { ledgerTotals, totalsQuerySchema } from "../queries/totals.ts";
import { tenantScope, type ApiEnv } from "./auth.ts";
import { csvTable } from "../output/csv-cell.ts";
import { analyticsClient, type Analytics } from "../queries/analytics.ts";
import type { Context } from "hono";

/** This request's bounded, cancellable view of the analytics runner. */
export const requestDb = (a: Analytics, c: Context<ApiEnv>) =>
  analyticsClient(a, { signal: c.req.raw.signal, owner: c.get("principal").keyId });

const isoDate = z.iso.date();
export const usageQuery = z.object({
  from: isoDate,
  to: isoDate,
  format: z.enum(["json", "csv"]).default("json"),
  top: z.coerce.number().int().min(1).max(1000).default(10),
});
export const coverageQuery = z.object({
  from: z.iso.datetime({ offset: true }).default("1970-01-01T00:00:00Z"),
  to: z.iso.datetime({ offset: true }).default("2299-12-31T00:00:00Z"),
});

const issues = (e: z.ZodError) => formatIssues(e, "query", Infinity);

export function reportRoutes(analytics: Analytics): Hono<ApiEnv> {
  const app = new Hono<ApiEnv>();

  app.get("/costs", async (c) => {
    const scope = tenantScope(c);
    if ("denied" in scope) return c.json({ error: "a tenant key sees only its own tenant" }, 403);
    const q = costsQuerySchema.safeParse({ ...c.req.query(), filter: c.req.queries("filter") });
    if (!q.success) return c.json({ error: issues(q.error) }, 400);
    const built = buildCostsQuery(q.data, scope.tenant);
    const rows = await queryRows<Record<string, unknown>>(requestDb(analytics, c), built.sql, built.params);
    return c.json({ ...q.data, tenant: scope.tenant ?? null, source: built.source, rows });
  });

  app.get("/reports/usage", async (c) => {
    const scope = tenantScope(c);
    if ("denied" in scope) return c.json({ error: "a tenant key sees only its own tenant" }, 403);
    const q = usageQuery.safeParse(c.req.query());
    if (!q.success) return c.json({ error: issues(q.error) }, 400);
    const params = { tenant: scope.tenant ?? "", from: q.data.from, to: q.data.to, limit: q.data.top };
    const client = requestDb(analytics, c);
    const [rows, top] = await Promise.all([
      queryRows<Record<string, unknown>>(client, sqlFile("usage_report"), params),
      queryRows<Record<string, unknown>>(client, sqlFile("top_users"), params),
    ]);
    if (q.data.format === "csv") {
      c.header("Content-Type", "text/csv; charset=utf-8");
      c.header("Content-Disposition", `attachment; filename="usage-${q.data.from}-${q.data.to}.csv"`);
      // Formula-looking cells are neutralised; the number columns stay numbers (pipeline/output/csv-cell.ts).
      return c.body(
        csvTable(
          rows,
          ["day", "tenant", "provider", "model", "user_id", "requests", "input_tokens", "output_tokens", "cost_usd"],
          ["requests", "input_tokens", "output_tokens", "cost_usd"],
        ),
      );
    }
    return c.json({ from: q.data.from, to: q.data.to, tenant: scope.tenant ?? null, rows, top_users: top });
  });

  app.get("/coverage", async (c) => {
    const scope = tenantScope(c);
    if ("denied" in scope) return c.json({ error: "a tenant key sees only its own tenant" }, 403);
    if (scope.tenant === undefined) return c.json({ error: "an admin key must name the tenant: ?tenant=" }, 400);
    const q = coverageQuery.safeParse(c.req.query());
    if (!q.success) return c.json({ error: issues(q.error) }, 400);
    const [row] = await queryRows<Record<string, string>>(requestDb(analytics, c), sqlFile("tenant_coverage"), {
      tenant: scope.tenant,
      from: chTime(q.data.from),
      to: chTime(q.data.to),
      shared_kinds: sharedCostKinds,
    });
    const total = Number(row?.total_usd ?? 0);
    const share = (k: string) => (total === 0 ? 0 : Number((Number(row?.[k] ?? 0) / total).toFixed(6)));
    return c.json({
      tenant: scope.tenant,
      ...row,
      shares: {
        direct: share("direct_usd"),
        allocated: share("allocated_usd"),
        unallocated: share("unallocated_usd"),
        pending: share("pending_usd"),
        unattributed: share("unattributed_usd"),
      },
    });
  });

  app.get("/totals", async (c) => {
    const scope = tenantScope(c);
    if ("denied" in scope) return c.json({ error: "a tenant key sees only its own tenant" }, 403);
    const q = totalsQuerySchema.safeParse({ ...c.req.query(), tenant: scope.tenant });
    if (!q.success) return c.json({ error: issues(q.error) }, 400);
    return c.json(await ledgerTotals(requestDb(analytics, c), q.data));
  });
  return app;
}
