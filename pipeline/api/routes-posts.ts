// GET /v1/posts/{id}/costs and /v1/posts/{id}/summary: what one post cost,
// from the per-post rollup and the allocations, with its audit trail.
import type { ClickHouseClient } from "@clickhouse/client";
import { Hono } from "hono";
import * as z from "zod";
import { queryRows } from "../clickhouse/client.ts";
import { Decimal, toMoney } from "../pricing/decimal.ts";
import { sqlFile } from "../queries/sql-files.ts";
import { tenantScope, type ApiEnv } from "./auth.ts";
import type { Analytics } from "../queries/analytics.ts";
import { requestDb } from "./routes-reports.ts";

type BreakdownRow = {
  kind: string;
  provider: string;
  model: string;
  cost_usd: string;
  events: number | string;
  unpriced_events: number | string;
  input_tokens: number | string;
  output_tokens: number | string;
  first_time: string;
  last_time: string;
};
type AllocationRow = { kind: string; cost_usd: string; shared_events: number | string };

export const postId = z.string().min(1).max(256);
export const auditQuery = z.object({
  limit: z.coerce.number().int().min(0).max(10_000).default(100),
  // Bound to a UInt32 in SQL: a larger offset would wrap, so it is refused.
  offset: z.coerce.number().int().min(0).max(4_294_967_295).default(0),
});

export interface PostCosts {
  tenant: string;
  post_id: string;
  total_usd: string;
  direct_usd: string;
  allocated_usd: string;
  events: number;
  unpriced_events: number;
  by_kind: Record<string, string>;
  by_model: { provider: string; model: string; cost_usd: string; events: number }[];
  coverage: { direct: number; allocated: number; unpriced_events: number };
  allocations: { kind: string; cost_usd: string; shared_events: number }[];
  first_seen: string | null;
  last_seen: string | null;
}

export async function postCosts(client: ClickHouseClient, tenant: string, id: string): Promise<PostCosts | undefined> {
  const [rows, allocations] = await Promise.all([
    queryRows<BreakdownRow>(client, sqlFile("post_costs"), { tenant, post_id: id }),
    queryRows<AllocationRow>(client, sqlFile("post_allocations"), { tenant, post_id: id }),
  ]);
  if (rows.length === 0 && allocations.length === 0) return undefined;
  const direct = rows.reduce((s, r) => s.plus(r.cost_usd), new Decimal(0));
  const allocated = allocations.reduce((s, r) => s.plus(r.cost_usd), new Decimal(0));
  const total = direct.plus(allocated);
  const byKind = new Map<string, Decimal>();
  for (const r of rows) byKind.set(r.kind, (byKind.get(r.kind) ?? new Decimal(0)).plus(r.cost_usd));
  for (const a of allocations) byKind.set(a.kind, (byKind.get(a.kind) ?? new Decimal(0)).plus(a.cost_usd));
  const share = (d: Decimal) => (total.isZero() ? 0 : Number(d.dividedBy(total).toFixed(6)));
  return {
    tenant,
    post_id: id,
    total_usd: toMoney(total),
    direct_usd: toMoney(direct),
    allocated_usd: toMoney(allocated),
    events: rows.reduce((s, r) => s + Number(r.events), 0),
    unpriced_events: rows.reduce((s, r) => s + Number(r.unpriced_events), 0),
    by_kind: Object.fromEntries([...byKind].map(([k, v]) => [k, toMoney(v)])),
    by_model: rows
      .filter((r) => r.model !== "")
      .map((r) => ({ provider: r.provider, model: r.model, cost_usd: toMoney(r.cost_usd), events: Number(r.events) })),
    coverage: {
      direct: share(direct),
      allocated: share(allocated),
      unpriced_events: rows.reduce((s, r) => s + Number(r.unpriced_events), 0),
    },
    allocations: allocations.map((a) => ({ kind: a.kind, cost_usd: toMoney(a.cost_usd), shared_events: Number(a.shared_events) })),
    first_seen: rows.length ? rows.map((r) => r.first_time).sort()[0]! : null,
    last_seen: rows.length
      ? rows
          .map((r) => r.last_time)
          .sort()
          .at(-1)!
      : null,
  };
}

/** An efficiency rating: the post's cost against the target cost per post. */
export function rate(total: Decimal, target: string): { ratio: number; rating: "excellent" | "good" | "fair" | "poor" } {
  const ratio = Number(total.dividedBy(target).toFixed(4));
  return { ratio, rating: ratio <= 0.5 ? "excellent" : ratio <= 1 ? "good" : ratio <= 2 ? "fair" : "poor" };
}

export function postRoutes(analytics: Analytics, targetCostPerPost: string): Hono<ApiEnv> {
  const app = new Hono<ApiEnv>();
  const resolve = (c: Parameters<typeof tenantScope>[0]) => {
    const scope = tenantScope(c);
    const id = postId.safeParse(c.req.param("id"));
    if ("denied" in scope || !id.success) return undefined;
    return { tenant: scope.tenant, id: id.data };
  };

  app.get("/:id/costs", async (c) => {
    const r = resolve(c);
    if (!r) return c.json({ error: "post not found" }, 404);
    if (r.tenant === undefined) return c.json({ error: "an admin key must name the post's tenant: ?tenant=" }, 400);
    const q = auditQuery.safeParse(c.req.query());
    if (!q.success) return c.json({ error: "limit must be 0–10000, offset 0–4294967295" }, 400);
    const client = requestDb(analytics, c);
    const costs = await postCosts(client, r.tenant, r.id);
    if (!costs) return c.json({ error: "post not found" }, 404);
    const params = { tenant: r.tenant, post_id: r.id, ...q.data };
    const [audit, allocated] = await Promise.all([
      queryRows<Record<string, unknown>>(client, sqlFile("post_audit"), params),
      queryRows<Record<string, unknown>>(client, sqlFile("post_allocation_audit"), params),
    ]);
    return c.json({
      ...costs,
      audit: audit.map((row) => ({ ...row, components: JSON.parse(String(row.components)) })),
      allocated_audit: allocated,
    });
  });

  app.get("/:id/summary", async (c) => {
    const r = resolve(c);
    if (!r) return c.json({ error: "post not found" }, 404);
    if (r.tenant === undefined) return c.json({ error: "an admin key must name the post's tenant: ?tenant=" }, 400);
    const costs = await postCosts(requestDb(analytics, c), r.tenant, r.id);
    if (!costs) return c.json({ error: "post not found" }, 404);
    const total = new Decimal(costs.total_usd);
    const primary = Object.entries(costs.by_kind).sort(([, a], [, b]) => new Decimal(b).comparedTo(a))[0]?.[0] ?? null;
    return c.json({
      tenant: costs.tenant,
      post_id: costs.post_id,
      total_usd: costs.total_usd,
      primary_cost_type: primary,
      target_usd: targetCostPerPost,
      efficiency: rate(total, targetCostPerPost),
      coverage: costs.coverage,
    });
  });
  return app;
}
