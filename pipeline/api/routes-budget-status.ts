// GET /v1/budgets/status: every budget a caller may see (a tenant key: its
// own tenant's) with spent, reserved, remaining, projected end-of-period and
// the thresholds crossed. Spent is the ledger's figure.
import type { ClickHouseClient } from "@clickhouse/client";
import { Hono } from "hono";
import { budgetStatus } from "../budgets/budget-status.ts";
import type { BudgetStore } from "../budgets/budget-store.ts";
import type { CounterClient } from "../budgets/reservation-counter.ts";
import { tenantScope, type ApiEnv } from "./auth.ts";

export function budgetStatusRoutes(deps: { store: BudgetStore; client: ClickHouseClient; counters?: CounterClient }): Hono<ApiEnv> {
  const app = new Hono<ApiEnv>();
  app.get("/budgets/status", async (c) => {
    const scope = tenantScope(c);
    if ("denied" in scope) return c.json({ error: "a tenant key sees only its own tenant" }, 403);
    const now = new Date();
    const mine = (await deps.store.list()).filter((b) => scope.tenant === undefined || b.budget.scope.tenant === scope.tenant);
    const budgets = await Promise.all(mine.map(({ key, budget }) => budgetStatus(deps, key, budget, now)));
    return c.json({ at: now.toISOString(), budgets });
  });
  return app;
}
