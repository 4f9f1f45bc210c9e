// The HTTP API of a running stack. Health and readiness are open (for probes),
// /metrics too unless COSTLINE_METRICS_TOKEN is set (its cost series name
// tenants); everything under /v1 needs an API key, and a tenant
// key sees only its tenant. Inputs are validated with zod; SQL values are bound.
import { serve, type ServerType } from "@hono/node-server";
import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { requestId } from "hono/request-id";
import { opsRoutes } from "../health/ops-routes.ts";
import type { ClickHouseClient } from "@clickhouse/client";
import { ConfigError, PermanentError } from "../errors.ts";
import type { Metrics } from "../observability/metrics.ts";
import type { Logger } from "../observability/log.ts";
import type { HealthReport } from "../health/health-status.ts";
import type { KeyStore } from "./api-keys.ts";
import { requireKey, tenantScope, type ApiEnv } from "./auth.ts";
import { adminRoutes } from "./routes-admin.ts";
import { postRoutes } from "./routes-posts.ts";
import { reportRoutes } from "./routes-reports.ts";
import { controlRoutes } from "./routes-controls.ts";
import type { ControlStore } from "../guard/control-store.ts";
import type { BudgetStore } from "../budgets/budget-store.ts";
import { budgetRoutes } from "./routes-budgets.ts";
import { budgetStatusRoutes } from "./routes-budget-status.ts";
import type { CounterClient } from "../budgets/reservation-counter.ts";
import type { SilenceStore } from "../notify/silences.ts";
import { silenceRoutes } from "./routes-silences.ts";
import { otlpRoutes, type OtlpDeps } from "../otlp/routes-otlp.ts";
import { focusRoutes } from "../exports/routes-focus.ts";
import { analyticsClient, createAnalytics, type Analytics } from "../queries/analytics.ts";
import { QueryLimitError, defaultQueryLimits } from "../queries/query-limits.ts";
import { fairness, type FairnessOptions } from "./fairness.ts";
import { validText } from "./valid-text.ts";
import { alertRoutes } from "./routes-alerts.ts";
import { consoleRoutes } from "../console/console-app.tsx";
import type { PipelineNats } from "../console/console-data.ts";
import { detectRoutes } from "./routes-detect.ts";
import { openApiDocument } from "./openapi.ts";
import { priceRoutes } from "./routes-prices.ts";
import { reconcileRoutes } from "./routes-reconcile.ts";
import type { Config } from "../config/config.ts";

export interface ApiDeps {
  clickhouse: ClickHouseClient;
  metrics: Metrics;
  keys: KeyStore;
  /** Controls and budgets (absent: those routes are not served). */
  controls?: ControlStore;
  budgets?: BudgetStore;
  /** Hard budgets' reservation counters, for GET /v1/budgets/status (absent: reserved reads 0). */
  reservations?: CounterClient;
  /** Notification silences (absent: /v1/silences is not served). */
  silences?: SilenceStore;
  targetCostPerPost: string;
  /** Largest request body read (default 1 MiB); a larger one is answered 413 before any handler runs. */
  maxBodyBytes?: number;
  /** Where a failed request's error goes (its answer is a plain 500). */
  log?: Logger;
  /** When set, /metrics needs `Authorization: Bearer <token>`: its cost series name tenants. */
  metricsToken?: string;
  /** The stack's health: /readyz answers 200 when healthy or degraded, 503 when unhealthy. */
  health: () => Promise<HealthReport>;
  /** The OTLP/HTTP traces receiver's publisher and attribute map (absent: /v1/traces is not served). */
  otlp?: Omit<OtlpDeps, "metrics" | "log">;
  /** Most rows one FOCUS export returns (default 1,000,000). */
  maxExportRows?: number;
  /** Where reports and /v1/sql run, bounded (absent: on `clickhouse`, under the default limits). */
  analytics?: Analytics;
  /** Per-key request rate and concurrency (absent: 200/s, bursts of 400, 8 in flight). */
  fairness?: FairnessOptions;
  /** The stack's NATS for the console's pipeline page (consumer lag, DLQ); absent: those parts stay empty. */
  consoleNats?: PipelineNats;
  /** The stack's window length: the ledger replay rebuilds windows of this size (default 60 s). */
  windowS?: number;
  /** The configured prices: the price catalog and re-pricing routes are served when given. */
  pricing?: Pick<Config, "pricing" | "rateCards">;
  /** Reconciliation: the share of the bill a day × model may be off before reconciliation_drift (default 0.05). */
  reconcileDriftThreshold?: number;
}

export function createApi(deps: ApiDeps): Hono<ApiEnv> {
  const app = new Hono<ApiEnv>();
  const analytics =
    deps.analytics ?? createAnalytics({ lanes: [deps.clickhouse], control: deps.clickhouse, limits: defaultQueryLimits, inline: false });
  app.onError((err, c) => {
    if (err instanceof QueryLimitError) {
      const retry = err.status === 503 || err.status === 429 ? { "Retry-After": "1" } : undefined;
      return c.json({ error: err.message, bound: err.bound }, err.status as 400, retry);
    }
    if (err instanceof PermanentError) return c.json({ error: err.message, reason: err.reason }, 400);
    // A database or library error can quote SQL and internals: the log gets it, the caller a pointer to it.
    deps.log?.error({ err, requestId: c.get("requestId"), method: c.req.method, path: c.req.path }, "API request failed");
    return c.json({ error: "internal error; the stack's log has the details" }, 500);
  });
  // A request id on every answer and log line: the caller's x-request-id when it is
  // short and plain (letters, digits, _ - =: it is logged), else a new one.
  app.use("*", requestId({ limitLength: 128 }));
  app.use("*", async (c, next) => {
    const id = c.get("requestId");
    const started = performance.now();
    await next();
    const route = c.req.routePath || "unmatched";
    deps.metrics.apiRequests.inc({ route, status: String(c.res.status) });
    deps.metrics.apiRequestSeconds.observe({ route }, (performance.now() - started) / 1000);
    deps.log?.debug({ requestId: id, method: c.req.method, route, status: c.res.status }, "request");
  });
  app.route("/", opsRoutes({ metrics: deps.metrics, health: deps.health, metricsToken: deps.metricsToken }));
  app.use("/v1/*", requireKey(deps.keys));
  // After the key check, so a caller without a key cannot make us buffer a body. The
  // unread rest of a refused body would garble the next request: the connection closes.
  const maxBody = deps.maxBodyBytes ?? 1_048_576;
  app.use(
    "/v1/*",
    bodyLimit({
      maxSize: maxBody,
      onError: (c) =>
        c.json({ error: `request body larger than ${maxBody} bytes (COSTLINE_API_MAX_BODY_BYTES)` }, 413, { connection: "close" }),
    }),
  );
  app.use("/v1/*", fairness(deps.fairness ?? { ratePerS: 200, burst: 400, maxConcurrentPerKey: 8 }));
  app.use("/v1/*", validText());
  // Like every route, it refuses a tenant key that names another tenant.
  app.get("/v1/openapi.json", (c) =>
    "denied" in tenantScope(c) ? c.json({ error: "a tenant key sees only its own tenant" }, 403) : c.json(openApiDocument()),
  );
  app.route("/v1/posts", postRoutes(analytics, deps.targetCostPerPost));
  app.route("/v1", adminRoutes(deps.clickhouse, deps.keys, analytics));
  if (deps.controls) app.route("/v1", controlRoutes(deps.controls));
  if (deps.budgets) app.route("/v1", budgetStatusRoutes({ store: deps.budgets, client: deps.clickhouse, counters: deps.reservations }));
  if (deps.budgets) app.route("/v1", budgetRoutes(deps.budgets, deps.clickhouse));
  if (deps.silences) app.route("/v1", silenceRoutes(deps.silences));
  app.route("/v1", reportRoutes(analytics));
  if (deps.otlp) app.route("/v1", otlpRoutes({ ...deps.otlp, metrics: deps.metrics, log: deps.log }));
  app.route("/v1", focusRoutes(deps.clickhouse, { maxRows: deps.maxExportRows }));
  // Fixed queries too run on the analytics lanes, under the same bounds as /v1/sql and the reports.
  app.route("/v1", alertRoutes(analyticsClient(analytics)));
  // The web console at / (its own session cookie, not a bearer key; /v1 stays key-only).
  app.route(
    "/",
    consoleRoutes({
      analytics,
      keys: deps.keys,
      controls: deps.controls,
      budgets: deps.budgets,
      silences: deps.silences,
      health: deps.health,
      nats: deps.consoleNats,
    }) as unknown as Hono<ApiEnv>,
  );
  app.route("/v1", detectRoutes(analyticsClient(analytics), deps.windowS ?? 60));
  if (deps.pricing) app.route("/v1", priceRoutes(deps.clickhouse, deps.pricing));
  if (deps.pricing) app.route("/v1", reconcileRoutes(deps.clickhouse, deps.reconcileDriftThreshold ?? 0.05));
  // An unknown /v1 route answers JSON like every other error (hono's own answer is plain text).
  app.notFound((c) =>
    c.req.path === "/v1" || c.req.path.startsWith("/v1/")
      ? c.json({ error: `no endpoint ${c.req.method} ${c.req.path} (GET /v1/openapi.json lists them)`, reason: "unknown_route" }, 404)
      : c.text("404 Not Found", 404),
  );
  return app;
}

export async function startApi(app: Hono<ApiEnv>, host: string, port: number): Promise<{ url: string; close(): Promise<void> }> {
  const server: ServerType = await new Promise((resolve, reject) => {
    // The request line (path and query string) and headers together stay under 16 KiB; more is answered 431 by Node.
    const s = serve({ fetch: app.fetch, hostname: host, port, serverOptions: { maxHeaderSize: 16_384 } }, () => resolve(s));
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
