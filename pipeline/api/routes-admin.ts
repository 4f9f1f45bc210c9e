// Admin-only routes: read-only SQL and API key management.
import type { ClickHouseClient } from "@clickhouse/client";
import { Hono } from "hono";
import * as z from "zod";
import { errorMessage } from "../errors.ts";
import { QueryLimitError } from "../queries/query-limits.ts";
import { guardSelect } from "../queries/read-only-sql.ts";
import type { Analytics } from "../queries/analytics.ts";
import type { KeyStore } from "./api-keys.ts";
import { requireAdmin, type ApiEnv } from "./auth.ts";

export const sqlBody = z.object({ query: z.string().min(1).max(100_000) });
export const keyBody = z.union([
  z.object({ role: z.literal("admin"), name: z.string().max(200).default("") }),
  z.object({ role: z.literal("tenant").default("tenant"), tenant: z.string().min(1).max(128), name: z.string().max(200).default("") }),
]);

export function adminRoutes(client: ClickHouseClient, keys: KeyStore, analytics: Analytics): Hono<ApiEnv> {
  const app = new Hono<ApiEnv>();
  // Per route, not app.use("*"): this app is mounted beside others under /v1.
  const admin = requireAdmin();

  app.post("/sql", admin, async (c) => {
    const body = sqlBody.safeParse(await c.req.json().catch(() => null));
    if (!body.success) return c.json({ error: 'expected a JSON body {"query": "SELECT …"}' }, 400);
    // The allowlist on ClickHouse's parse (on the ingest connection: parsing is quick), then the
    // formatted statement under the server's bounds on an analytics lane.
    const query = await guardSelect(client, body.data.query);
    try {
      const text = await analytics.text(query, {}, { signal: c.req.raw.signal, owner: c.get("principal").keyId });
      c.header("Content-Type", "application/x-ndjson");
      return c.body(text);
    } catch (err) {
      if (err instanceof QueryLimitError) throw err;
      // Caller-written SQL failing (unknown column, bad types) is the caller's error.
      return c.json({ error: errorMessage(err).split(/\s+In scope\b/)[0] }, 400);
    }
  });

  app.get("/admin/keys", admin, async (c) => c.json({ keys: await keys.list() }));
  app.post("/admin/keys", admin, async (c) => {
    const body = keyBody.safeParse(await c.req.json().catch(() => null));
    if (!body.success) return c.json({ error: 'expected {"tenant": "acme"} or {"role": "admin"}' }, 400);
    const p = body.data.role === "admin" ? ({ role: "admin" } as const) : ({ role: "tenant", tenant: body.data.tenant } as const);
    return c.json(await keys.create(p, body.data.name), 201);
  });
  app.delete("/admin/keys/:id", admin, async (c) => {
    const ok = await keys.revoke(c.req.param("id"));
    return ok ? c.json({ revoked: c.req.param("id") }) : c.json({ error: "no such key" }, 404);
  });
  return app;
}
