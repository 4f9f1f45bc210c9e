// Budgets: anyone sees their tenant's, with the spend of the current period
// read from the ledger; admins set and delete them; every change is kept in
// costline.budget_changes (GET /v1/budgets/history).
import type { ClickHouseClient } from "@clickhouse/client";
import { Hono } from "hono";
import * as z from "zod";
import { formatIssues } from "../errors.ts";
import { budgetSchema } from "../../schemas/index.ts";
import { periodOf } from "../budgets/budget-period.ts";
import { readSpendBuckets } from "../budgets/budget-spend.ts";
import type { BudgetStore } from "../budgets/budget-store.ts";
import { sumMoney, Decimal } from "../pricing/decimal.ts";
import { requireAdmin, tenantScope, type ApiEnv } from "./auth.ts";

export const historyQuery = z.object({ limit: z.coerce.number().int().min(1).max(10_000).default(100) });
const issues = (e: z.ZodError, where: string) => formatIssues(e, where, Infinity);
const by = (keyId: string | undefined) => `operator:${keyId ?? "unknown"}`;

export function budgetRoutes(store: BudgetStore, client: ClickHouseClient): Hono<ApiEnv> {
  const app = new Hono<ApiEnv>();
  const admin = requireAdmin();

  app.get("/budgets", async (c) => {
    const scope = tenantScope(c);
    if ("denied" in scope) return c.json({ error: "a tenant key sees only its own tenant" }, 403);
    const all = (await store.list()).filter((b) => scope.tenant === undefined || b.budget.scope.tenant === scope.tenant);
    const now = new Date();
    const budgets = await Promise.all(
      all.map(async ({ key, budget }) => {
        const period = periodOf(budget.period, budget.timezone, now);
        const spend = sumMoney((await readSpendBuckets(client, budget.scope, period.start, now)).map((b) => b.spend));
        const used = new Decimal(spend).div(budget.amount_usd).toDecimalPlaces(4).toNumber();
        return {
          key,
          ...budget,
          state: { spend_usd: spend, used, period_start: period.start.toISOString(), period_end: period.end.toISOString() },
        };
      }),
    );
    return c.json({ budgets });
  });

  app.get("/budgets/history", async (c) => {
    const scope = tenantScope(c);
    if ("denied" in scope) return c.json({ error: "a tenant key sees only its own tenant" }, 403);
    const q = historyQuery.safeParse(c.req.query());
    if (!q.success) return c.json({ error: issues(q.error, "query") }, 400);
    return c.json({ changes: await store.history(scope.tenant, q.data.limit) });
  });

  app.put("/budgets", admin, async (c) => {
    const body = budgetSchema.safeParse(await c.req.json().catch(() => null));
    if (!body.success) return c.json({ error: issues(body.error, "body") }, 400);
    return c.json(await store.set(body.data, by(c.get("principal").keyId)));
  });

  app.delete("/budgets/:key", admin, async (c) => {
    const key = c.req.param("key");
    const deleted = await store.delete(key, by(c.get("principal").keyId));
    return deleted ? c.json({ deleted: key }) : c.json({ error: `no budget ${key}` }, 404);
  });
  return app;
}
