// The three routes an orchestrator and Prometheus ask every costline process:
//   /healthz  liveness: 200 while the process serves HTTP at all
//   /readyz   readiness: 200 when healthy or degraded, 503 when unhealthy, with every check
//   /metrics  Prometheus text (behind a bearer token when COSTLINE_METRICS_TOKEN is set)
// The API mounts them beside /v1; a process running stages without the API
// serves them alone (startOpsServer) on COSTLINE_METRICS_PORT.
import { timingSafeEqual } from "node:crypto";
import { serve, type ServerType } from "@hono/node-server";
import { Hono } from "hono";
import { ConfigError } from "../errors.ts";
import type { Metrics } from "../observability/metrics.ts";
import type { HealthReport } from "./health-status.ts";

export interface OpsDeps {
  metrics: Metrics;
  health: () => Promise<HealthReport>;
  /** When set, /metrics needs `Authorization: Bearer <token>`: its cost series name tenants. */
  metricsToken?: string;
}

function tokenMatches(header: string | undefined, token: string): boolean {
  const given = Buffer.from(header?.replace(/^Bearer\s+/i, "") ?? "");
  const want = Buffer.from(token);
  return given.length === want.length && timingSafeEqual(given, want);
}

export function opsRoutes(deps: OpsDeps): Hono {
  const app = new Hono();
  app.get("/healthz", (c) => c.json({ status: "ok" }));
  app.get("/readyz", async (c) => {
    const report = await deps.health();
    const ready = report.status !== "unhealthy";
    return c.json({ ready, ...report }, ready ? 200 : 503);
  });
  app.get("/metrics", async (c) => {
    if (deps.metricsToken && !tokenMatches(c.req.header("authorization"), deps.metricsToken))
      return c.json({ error: "metrics need Authorization: Bearer <COSTLINE_METRICS_TOKEN>" }, 401);
    c.header("Content-Type", deps.metrics.registry.contentType);
    return c.body(await deps.metrics.registry.metrics());
  });
  return app;
}

/** Serves the ops routes alone on host:port (0 picks a free port). */
export async function startOpsServer(deps: OpsDeps, host: string, port: number): Promise<{ url: string; close(): Promise<void> }> {
  const app = new Hono();
  app.route("/", opsRoutes(deps));
  app.notFound((c) =>
    c.json({ error: "this port serves /healthz, /readyz and /metrics only; the API, where it runs, is on COSTLINE_API_PORT" }, 404),
  );
  const server: ServerType = await new Promise((resolve, reject) => {
    const s = serve({ fetch: app.fetch, hostname: host, port }, () => resolve(s));
    s.once("error", (err: NodeJS.ErrnoException) =>
      reject(
        err.code === "EADDRINUSE"
          ? new ConfigError(`the metrics port ${host}:${port} is in use; set COSTLINE_METRICS_PORT (0 picks a free port)`)
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
