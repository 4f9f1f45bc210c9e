// The price catalog and re-pricing over HTTP (`costline prices …` and
// `costline reprice` call these):
//   GET  /v1/prices[?version=N&provider=&model=&tenant=]   the catalog at a version (default newest)
//   GET  /v1/prices/show[?model=M&provider=P&tenant=T&at=ISO]  every layer's price for one model (or every entry)
//   GET  /v1/prices/diff[?from=N&to=M]                      what changed between two versions (default: all, newest)
//   POST /v1/prices        {entries:[…]}  admin: one new version (set and import)
//   POST /v1/reprice       {from,to,tenant?,model?,dry_run?,reason?}  admin
//   GET  /v1/admin/reprice/runs  admin: the audit of re-pricing runs
import type { ClickHouseClient } from "@clickhouse/client";
import { Hono } from "hono";
import * as z from "zod";
import type { Config } from "../config/config.ts";
import { formatIssues } from "../errors.ts";
import { catalogEntryInput, catalogVersionString, collapse, createCatalogStore, diffCatalogs } from "../catalog/catalog-store.ts";
import { createModelResolver, priceAt } from "../pricing/model-resolution.ts";
import { libraryPriceSource } from "../pricing/llm-price.ts";
import { shippedOverlay } from "../pricing/price-overlay.ts";
import { reprice, repriceRuns } from "../reprice/reprice.ts";
import { requireAdmin, tenantScope, type ApiEnv } from "./auth.ts";

const version = z.coerce.number().int().min(0).optional();
export const priceListQuery = z.object({ version, provider: z.string().optional(), model: z.string().optional() });
export const priceShowQuery = z.object({
  provider: z.string().default(""),
  model: z.string().default(""),
  at: z.iso.datetime({ offset: true }).optional(),
});
export const priceDiffQuery = z.object({ from: z.coerce.number().int().min(0).default(0), to: version });
export const priceSetBody = z.object({ entries: z.array(catalogEntryInput).min(1).max(100_000), reason: z.string().max(2000).optional() });
export const repriceBody = z
  .object({
    from: z.iso.datetime({ offset: true }),
    to: z.iso.datetime({ offset: true }),
    tenant: z.string().min(1).optional(),
    model: z.string().min(1).optional(),
    dry_run: z.boolean().default(true),
    reason: z.string().max(2000).default(""),
  })
  .refine((b) => Date.parse(b.from) < Date.parse(b.to), "from must be before to");
const issues = (e: z.ZodError, where: string) => formatIssues(e, where, 20);
const actorOf = (keyId: string | undefined) => `operator:${keyId ?? "unknown"}`;

const view = (e: ReturnType<typeof collapse>[number]) => ({
  version: e.version,
  layer: e.layer,
  provider: e.provider,
  model: e.model,
  tenant: e.tenant,
  from: e.from.toISOString(),
  to: e.to?.toISOString() ?? null,
  prices: e.prices,
  source: e.source,
  note: e.note,
  created_at: e.created_at,
  created_by: e.created_by,
});

export function priceRoutes(client: ClickHouseClient, config: Pick<Config, "pricing" | "rateCards">): Hono<ApiEnv> {
  const app = new Hono<ApiEnv>();
  const admin = requireAdmin();
  const store = createCatalogStore(client);
  const resolve = createModelResolver(1000, shippedOverlay().models);

  app.get("/prices", async (c) => {
    const scope = tenantScope(c);
    if ("denied" in scope) return c.json({ error: "a tenant key sees only its own tenant" }, 403);
    const q = priceListQuery.safeParse(c.req.query());
    if (!q.success) return c.json({ error: issues(q.error, "query") }, 400);
    const rows = await store.rows();
    const latest = rows.reduce((m, r) => Math.max(m, r.version), 0);
    const at = q.data.version ?? latest;
    const entries = collapse(rows, at).filter(
      (e) =>
        (!q.data.provider || e.provider === q.data.provider.toLowerCase()) &&
        (!q.data.model || e.model === q.data.model.toLowerCase()) &&
        (scope.tenant === undefined || e.tenant === "" || e.tenant === scope.tenant),
    );
    return c.json({ version: at, latest_version: latest, catalog_version: catalogVersionString(at), entries: entries.map(view) });
  });

  app.get("/prices/show", async (c) => {
    const scope = tenantScope(c);
    if ("denied" in scope) return c.json({ error: "a tenant key sees only its own tenant" }, 403);
    const q = priceShowQuery.safeParse(c.req.query());
    if (!q.success) return c.json({ error: issues(q.error, "query") }, 400);
    const at = q.data.at ? new Date(q.data.at) : new Date();
    // Without a model: every layer's entries (the catalog, the configuration, the shipped corrections).
    const all = q.data.model === "";
    const resolved = all ? null : resolve(q.data.provider, q.data.model);
    const ids = new Set([q.data.model.toLowerCase(), ...(resolved ? [resolved.model.id.toLowerCase()] : [])]);
    const rows = (await store.rows()).filter(
      (e) => (all || ids.has(e.model)) && (scope.tenant === undefined || e.tenant === "" || e.tenant === scope.tenant),
    );
    const overlay = all
      ? shippedOverlay().file.corrections
      : resolved
        ? shippedOverlay().correctionsFor(resolved.provider.id, resolved.model.id)
        : [];
    return c.json({
      model: q.data.model,
      resolved: resolved ? { provider: resolved.provider.id, model: resolved.model.id } : null,
      at: at.toISOString(),
      // Highest precedence first: catalog (tenant, then deployment), then the configuration, the overlay, the library.
      catalog: collapse(rows).map(view),
      configured: config.pricing.models
        .filter((m) => (all || ids.has(m.model)) && (scope.tenant === undefined || !m.tenant || m.tenant === scope.tenant))
        .map((m) => ({ ...m, from: m.from.toISOString(), to: m.to?.toISOString() ?? null })),
      overlay: overlay.map((o) => ({
        ...o,
        from: o.from.toISOString(),
        to: o.to?.toISOString() ?? null,
        version: shippedOverlay().version,
      })),
      library: resolved ? { version: libraryPriceSource.version, prices: priceAt(resolved.model, at) } : null,
    });
  });

  app.get("/prices/diff", async (c) => {
    const scope = tenantScope(c);
    if ("denied" in scope) return c.json({ error: "a tenant key sees only its own tenant" }, 403);
    const q = priceDiffQuery.safeParse(c.req.query());
    if (!q.success) return c.json({ error: issues(q.error, "query") }, 400);
    const rows = (await store.rows()).filter((e) => scope.tenant === undefined || e.tenant === "" || e.tenant === scope.tenant);
    const to = q.data.to ?? rows.reduce((m, r) => Math.max(m, r.version), 0);
    return c.json({ from: q.data.from, to, changes: diffCatalogs(collapse(rows, q.data.from), collapse(rows, to)) });
  });

  app.post("/prices", admin, async (c) => {
    const body = priceSetBody.safeParse(await c.req.json().catch(() => null));
    if (!body.success) return c.json({ error: issues(body.error, "body") }, 400);
    const v = await store.write(body.data.entries, actorOf(c.get("principal").keyId));
    return c.json({ version: v, catalog_version: catalogVersionString(v), entries: body.data.entries.length });
  });

  app.post("/reprice", admin, async (c) => {
    const body = repriceBody.safeParse(await c.req.json().catch(() => null));
    if (!body.success) return c.json({ error: issues(body.error, "body") }, 400);
    const b = body.data;
    try {
      const result = await reprice(client, config, {
        from: new Date(b.from),
        to: new Date(b.to),
        tenant: b.tenant,
        model: b.model,
        dryRun: b.dry_run,
        actor: actorOf(c.get("principal").keyId),
        reason: b.reason,
      });
      return c.json(result);
    } catch (err) {
      if (err instanceof RangeError) return c.json({ error: err.message }, 400);
      throw err;
    }
  });

  app.get("/admin/reprice/runs", admin, async (c) => c.json({ runs: await repriceRuns(client) }));

  return app;
}
