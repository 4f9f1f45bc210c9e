// The HTTP API of a running stack: health, readiness, Prometheus metrics,
// read-only SQL and exact totals. Inputs are validated with zod.
import { serve, type ServerType } from "@hono/node-server";
import { Hono } from "hono";
import type { ClickHouseClient } from "@clickhouse/client";
import { z } from "zod";
import { ConfigError, PermanentError, errorMessage } from "../errors.ts";
import type { Metrics } from "../observability/metrics.ts";
import { checkReadOnly } from "../queries/read-only-sql.ts";
import { ledgerTotals, totalsQuerySchema } from "../queries/totals.ts";

export interface ApiDeps {
  clickhouse: ClickHouseClient;
  metrics: Metrics;
  /** Named readiness checks; all must pass for /readyz to answer 200. */
  readiness: () => Promise<Record<string, boolean>>;
}

const sqlBody = z.object({ query: z.string().min(1).max(100_000) });

export function createApi(deps: ApiDeps): Hono {
  const app = new Hono();
  app.onError((err, c) => {
    if (err instanceof PermanentError) return c.json({ error: err.message, reason: err.reason }, 400);
    return c.json({ error: errorMessage(err) }, 500);
  });
  app.get("/healthz", (c) => c.json({ status: "ok" }));
  app.get("/readyz", async (c) => {
    const checks = await deps.readiness();
    const ready = Object.values(checks).every(Boolean);
    return c.json({ ready, checks }, ready ? 200 : 503);
  });
  app.get("/metrics", async (c) => {
    c.header("Content-Type", deps.metrics.registry.contentType);
    return c.body(await deps.metrics.registry.metrics());
  });
  app.post("/v1/sql", async (c) => {
    const body = sqlBody.safeParse(await c.req.json().catch(() => null));
    if (!body.success) return c.json({ error: 'expected a JSON body {"query": "SELECT …"}' }, 400);
    const query = checkReadOnly(body.data.query);
    try {
      const rs = await deps.clickhouse.query({ query, format: "JSONEachRow" });
      c.header("Content-Type", "application/x-ndjson");
      return c.body(await rs.text());
    } catch (err) {
      return c.json({ error: errorMessage(err) }, 400);
    }
  });
  app.get("/v1/totals", async (c) => {
    const q = totalsQuerySchema.safeParse(c.req.query());
    if (!q.success) return c.json({ error: q.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ") }, 400);
    return c.json(await ledgerTotals(deps.clickhouse, q.data));
  });
  return app;
}

export async function startApi(app: Hono, host: string, port: number): Promise<{ url: string; close(): Promise<void> }> {
  const server: ServerType = await new Promise((resolve, reject) => {
    const s = serve({ fetch: app.fetch, hostname: host, port }, () => resolve(s));
    s.once("error", (err: NodeJS.ErrnoException) =>
      reject(
        err.code === "EADDRINUSE"
          ? new ConfigError(`the API port ${host}:${port} is in use; set COSTLINE_API_PORT (0 picks a free port)`)
          : err,
      ),
    );
  });
  const addr = server.address();
  const actualPort = typeof addr === "object" && addr ? addr.port : port;
  return {
    url: `http://${host}:${actualPort}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
