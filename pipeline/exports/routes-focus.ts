// GET /v1/exports/focus?from=&to=[&format=csv|parquet][&tenant=]: the FOCUS
// 1.2 export, streamed as ClickHouse writes it. A tenant key exports only its
// tenant; an admin key one tenant (?tenant=) or all.
import { Readable } from "node:stream";
import { Hono } from "hono";
import { tenantScope, type ApiEnv } from "../api/auth.ts";
import type { ClickHouseClient } from "@clickhouse/client";
import { focusContentType, focusExport, focusQuerySchema } from "./focus-export.ts";

export function focusRoutes(clickhouse: ClickHouseClient, opts: { maxRows?: number } = {}): Hono<ApiEnv> {
  const app = new Hono<ApiEnv>();
  const maxRows = opts.maxRows ?? 1_000_000;
  app.get("/exports/focus", async (c) => {
    const scope = tenantScope(c);
    if ("denied" in scope) return c.json({ error: "a tenant key can export only its own tenant" }, 403);
    const q = focusQuerySchema.safeParse({ ...c.req.query(), tenant: scope.tenant });
    if (!q.success) return c.json({ error: q.error.issues.map((i) => `${i.path.join(".") || "query"}: ${i.message}`).join("; ") }, 400);
    const stream = await focusExport(clickhouse, q.data, maxRows);
    const name = `focus-${q.data.tenant ?? "all"}-${q.data.from.slice(0, 10)}-${q.data.to.slice(0, 10)}.${q.data.format}`.replace(
      /[^A-Za-z0-9._-]/g,
      "_",
    );
    return new Response(Readable.toWeb(stream) as ReadableStream, {
      headers: { "content-type": focusContentType[q.data.format], "content-disposition": `attachment; filename="${name}"` },
    });
  });
  return app;
}
