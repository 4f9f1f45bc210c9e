// The HTTP API as an OpenAPI 3.1 document, served at GET /v1/openapi.json.
// Requests are described by the very zod schemas the routes parse with (a
// change to a route's query or body changes the document); a test checks that
// every route the app registers is here and nothing else is.
import { OpenAPIRegistry, OpenApiGeneratorV31, type RouteConfig } from "@asteasolutions/zod-to-openapi";
import * as z from "zod";
import { alertSchema, budgetSchema, controlSchema, silenceInputSchema, silenceSchema } from "../../schemas/index.ts";
import { focusQuerySchema } from "../exports/focus-export.ts";
import { ledgerWindowsQuerySchema } from "../detect/ledger-windows.ts";
import { alertsQuerySchema } from "../queries/alerts-query.ts";
import { costsQuerySchema } from "../queries/costs-query.ts";
import { totalsQuerySchema } from "../queries/totals.ts";
import { keyBody, sqlBody } from "./routes-admin.ts";
import { historyQuery } from "./routes-budgets.ts";
import { clearBody, controlBody } from "./routes-controls.ts";
import { auditQuery, postId } from "./routes-posts.ts";
import { coverageQuery, usageQuery } from "./routes-reports.ts";
import { priceDiffQuery, priceListQuery, priceSetBody, priceShowQuery, repriceBody } from "./routes-prices.ts";
import { reconcileBody, reconcileListQuery } from "./routes-reconcile.ts";

type Method = RouteConfig["method"];

/** What every error answers: the message, and a class where the caller can act on it. */
const errorSchema = z.object({
  error: z.string(),
  reason: z.string().optional().describe("the error's class: validation, unknown_route, … (a DLQ reason where the input would be one)"),
  bound: z.string().optional().describe("which query bound stopped it (time, rows, bytes, memory, busy)"),
});
const tenantQuery = z.object({
  tenant: z.string().optional().describe("admin keys: one tenant (default every tenant); a tenant key may name only its own"),
});
const json = (schema: z.ZodType, description: string) => ({ description, content: { "application/json": { schema } } });
const anyJson = (description: string) => json(z.record(z.string(), z.unknown()), description);
const errors = {
  400: json(errorSchema, "invalid input; `error` says which field and why"),
  401: json(errorSchema, "no key, or an invalid or revoked one"),
  403: json(errorSchema, "an admin-only route, or another tenant named with a tenant key"),
};
const admin = { ...errors, 403: json(errorSchema, "this route needs an admin key") };
const notFound = { 404: json(errorSchema, "no such thing (or one another tenant owns)") };

interface Endpoint {
  method: Method;
  /** hono's pattern (`/v1/posts/:id/costs`); written `{id}` in the document. */
  path: string;
  summary: string;
  query?: z.ZodObject;
  params?: z.ZodObject;
  body?: z.ZodType;
  ok: { status?: number; description: string; schema?: z.ZodType; type?: string };
  extra?: Record<number, ReturnType<typeof json>>;
  open?: boolean;
}

const keyId = z.object({ id: z.string().describe("the key id (the 12 characters after cl_)") });
const budgetKey = z.object({ key: z.string().describe("the budget's key, as GET /v1/budgets lists it") });
const silenceId = z.object({ id: z.string() });
const withState = silenceSchema.extend({ state: z.enum(["active", "pending", "expired"]) });

export const endpoints: Endpoint[] = [
  {
    method: "get",
    path: "/v1/prices",
    summary: "The price catalog at a version (default the newest), filtered by provider and model",
    query: tenantQuery.extend(priceListQuery.shape),
    ok: { description: "the catalog entries", schema: z.record(z.string(), z.unknown()) },
  },
  {
    method: "get",
    path: "/v1/prices/show",
    summary: "Every layer's price for one model (catalog, configuration, shipped corrections, library) at a time",
    query: tenantQuery.extend(priceShowQuery.shape),
    ok: { description: "the layers", schema: z.record(z.string(), z.unknown()) },
  },
  {
    method: "get",
    path: "/v1/prices/diff",
    summary: "What changed in the catalog between two versions",
    query: tenantQuery.extend(priceDiffQuery.shape),
    ok: { description: "the changes", schema: z.record(z.string(), z.unknown()) },
  },
  {
    method: "post",
    path: "/v1/prices",
    summary: "Admin: write one new catalog version (set and import)",
    body: priceSetBody,
    ok: { description: "the new version", schema: z.record(z.string(), z.unknown()) },
    extra: admin,
  },
  {
    method: "post",
    path: "/v1/reprice",
    summary: "Admin: re-price a past period with the prices in force at each event's time (dry run by default)",
    body: repriceBody,
    ok: { description: "old and new totals, and the run's audit id", schema: z.record(z.string(), z.unknown()) },
    extra: admin,
  },
  {
    method: "get",
    path: "/v1/admin/reprice/runs",
    summary: "Admin: the audit of re-pricing runs",
    ok: { description: "the runs", schema: z.object({ runs: z.array(z.record(z.string(), z.unknown())) }) },
    extra: admin,
  },
  {
    method: "post",
    path: "/v1/reconcile",
    summary: "Admin: compare a provider's cost export with the ledger per day and model, store it, alert on drift",
    body: reconcileBody,
    ok: { description: "the comparison", schema: z.record(z.string(), z.unknown()) },
    extra: admin,
  },
  {
    method: "get",
    path: "/v1/admin/reconcile",
    summary: "Admin: stored reconciliation comparisons, newest first",
    query: reconcileListQuery,
    ok: { description: "the rows", schema: z.object({ rows: z.array(z.record(z.string(), z.unknown())) }) },
    extra: admin,
  },
  { method: "get", path: "/healthz", summary: "Liveness: the process answers", ok: { description: "alive" }, open: true },
  {
    method: "get",
    path: "/readyz",
    summary: "Health of every part (healthy and degraded answer 200, unhealthy 503), each check with its detail",
    ok: { description: "healthy or degraded", schema: z.record(z.string(), z.unknown()) },
    extra: { 503: anyJson("unhealthy") },
    open: true,
  },
  {
    method: "get",
    path: "/metrics",
    summary: "Prometheus metrics (with COSTLINE_METRICS_TOKEN set, that bearer token)",
    ok: { description: "the metrics", type: "text/plain" },
    open: true,
  },
  {
    method: "get",
    path: "/v1/openapi.json",
    summary: "This document",
    ok: { description: "OpenAPI 3.1", schema: z.record(z.string(), z.unknown()) },
  },
  {
    method: "get",
    path: "/v1/posts/:id/costs",
    summary:
      "A post's total, direct and allocated parts, breakdown by kind and model, coverage, and its audit trail (ledger rows with price source and components)",
    params: z.object({ id: postId }),
    query: tenantQuery.extend(auditQuery.shape),
    ok: { description: "the post's costs", schema: z.record(z.string(), z.unknown()) },
    extra: notFound,
  },
  {
    method: "get",
    path: "/v1/posts/:id/summary",
    summary: "A post's total, primary cost type and efficiency against COSTLINE_TARGET_COST_PER_POST",
    params: z.object({ id: postId }),
    query: tenantQuery,
    ok: { description: "the summary", schema: z.record(z.string(), z.unknown()) },
    extra: notFound,
  },
  {
    method: "post",
    path: "/v1/sql",
    summary: "Admin: one read-only SELECT over costline's tables, under the server's bounds",
    body: sqlBody,
    ok: { description: "the rows, one JSON object a line", type: "application/x-ndjson" },
    extra: { ...admin, 413: json(errorSchema, "a result bound was reached"), 429: json(errorSchema, "too many queries running") },
  },
  {
    method: "get",
    path: "/v1/admin/keys",
    summary: "Admin: every API key (never its secret)",
    ok: { description: "the keys", schema: z.object({ keys: z.array(z.record(z.string(), z.unknown())) }) },
    extra: admin,
  },
  {
    method: "post",
    path: "/v1/admin/keys",
    summary: "Admin: create a tenant key or an admin key; the key is answered once",
    body: keyBody,
    ok: {
      status: 201,
      description: "the new key",
      schema: z.object({ key: z.string(), key_id: z.string(), role: z.enum(["admin", "tenant"]), tenant: z.string().nullable() }),
    },
    extra: admin,
  },
  {
    method: "delete",
    path: "/v1/admin/keys/:id",
    summary: "Admin: revoke a key (it keeps its created_at)",
    params: keyId,
    ok: { description: "revoked", schema: z.object({ revoked: z.string() }) },
    extra: { ...admin, ...notFound },
  },
  {
    method: "get",
    path: "/v1/controls",
    summary: "The cost controls in force (a tenant key: its own)",
    query: tenantQuery,
    ok: { description: "the controls", schema: z.object({ controls: z.array(controlSchema) }) },
  },
  {
    method: "put",
    path: "/v1/controls",
    summary: "Admin: set an operator's control on a scope (the detector never overwrites it while it lasts)",
    body: controlBody,
    ok: { description: "the control as stored", schema: controlSchema },
    extra: admin,
  },
  {
    method: "delete",
    path: "/v1/controls",
    summary:
      "Admin: clear the control on a scope — given in the query string (tenant, persona_id, feature, user_id, model, reason) or as a JSON body",
    query: z.object({ ...clearBody.shape.scope.partial().shape, reason: z.string().optional() }),
    body: clearBody,
    ok: { description: "cleared", schema: z.object({ cleared: clearBody.shape.scope }) },
    extra: { ...admin, ...notFound },
  },
  {
    method: "get",
    path: "/v1/budgets/status",
    summary: "Every budget with spent, reserved, remaining, projected end of period and thresholds crossed",
    query: tenantQuery,
    ok: { description: "the budgets' status", schema: z.object({ at: z.string(), budgets: z.array(z.record(z.string(), z.unknown())) }) },
  },
  {
    method: "get",
    path: "/v1/budgets",
    summary: "The budgets, each with the spend of its current period from the ledger",
    query: tenantQuery,
    ok: { description: "the budgets", schema: z.object({ budgets: z.array(z.record(z.string(), z.unknown())) }) },
  },
  {
    method: "get",
    path: "/v1/budgets/history",
    summary: "Budget changes, newest first, each with the budget as it was set or deleted",
    query: tenantQuery.extend(historyQuery.shape),
    ok: {
      description: "the changes",
      schema: z.object({
        changes: z.array(
          z.object({
            changed_at: z.string(),
            tenant: z.string(),
            budget_key: z.string(),
            action: z.enum(["set", "delete"]),
            period: z.string(),
            amount_usd: z.string(),
            hard: z.boolean(),
            changed_by: z.string(),
            budget: budgetSchema,
          }),
        ),
      }),
    },
  },
  {
    method: "put",
    path: "/v1/budgets",
    summary: "Admin: set a budget; answers its key",
    body: budgetSchema,
    ok: { description: "the key and the budget as stored", schema: z.object({ key: z.string(), budget: budgetSchema }) },
    extra: admin,
  },
  {
    method: "delete",
    path: "/v1/budgets/:key",
    summary: "Admin: delete a budget",
    params: budgetKey,
    ok: { description: "deleted", schema: z.object({ deleted: z.string() }) },
    extra: { ...admin, ...notFound },
  },
  {
    method: "get",
    path: "/v1/silences",
    summary: "Notification silences",
    query: tenantQuery.extend({ state: z.enum(["active", "pending", "expired", "all"]).optional() }),
    ok: { description: "the silences", schema: z.object({ silences: z.array(withState) }) },
  },
  {
    method: "get",
    path: "/v1/silences/:id",
    summary: "One silence",
    params: silenceId,
    query: tenantQuery,
    ok: { description: "the silence", schema: withState },
    extra: notFound,
  },
  {
    method: "post",
    path: "/v1/silences",
    summary: "Admin: add a silence",
    body: silenceInputSchema,
    ok: { status: 201, description: "the silence", schema: withState },
    extra: admin,
  },
  {
    method: "delete",
    path: "/v1/silences/:id",
    summary: "Admin: expire a silence now",
    params: silenceId,
    ok: { description: "the expired silence", schema: withState },
    extra: { ...admin, ...notFound },
  },
  {
    method: "get",
    path: "/v1/costs",
    summary: "Cost per time bucket in any IANA time zone, grouped and filtered by attribution keys",
    query: tenantQuery.extend(costsQuerySchema.shape),
    ok: { description: "the buckets", schema: z.record(z.string(), z.unknown()) },
  },
  {
    method: "get",
    path: "/v1/reports/usage",
    summary: "Usage by UTC day, tenant, provider, model and user, with the top users (JSON or CSV)",
    query: tenantQuery.extend(usageQuery.shape),
    ok: { description: "the report", schema: z.record(z.string(), z.unknown()) },
  },
  {
    method: "get",
    path: "/v1/coverage",
    summary: "A tenant's attribution coverage: direct, allocated, unallocated, pending and unattributed shares",
    query: tenantQuery.extend(coverageQuery.shape),
    ok: { description: "the coverage", schema: z.record(z.string(), z.unknown()) },
  },
  {
    method: "get",
    path: "/v1/totals",
    summary: "Exact ledger totals, as `costline totals`",
    query: totalsQuerySchema,
    ok: { description: "the totals", schema: z.record(z.string(), z.unknown()) },
  },
  {
    method: "post",
    path: "/v1/traces",
    summary: "OTLP/HTTP traces receiver: GenAI spans become costline events (protobuf or JSON, gzip allowed)",
    ok: { description: "an OTLP export response", type: "application/x-protobuf" },
  },
  {
    method: "get",
    path: "/v1/exports/focus",
    summary: "The ledger as a FOCUS cost and usage export (CSV or JSON)",
    query: focusQuerySchema,
    ok: { description: "the export", type: "text/csv" },
  },
  {
    method: "get",
    path: "/v1/alerts",
    summary: "Alerts, filtered by state, severity, type, scope and detection time, newest first",
    query: tenantQuery.extend(alertsQuerySchema.shape),
    ok: {
      description: "a page of alerts",
      schema: z.object({ tenant: z.string().nullable(), alerts: z.array(alertSchema), next_offset: z.number().nullable() }),
    },
  },
  {
    method: "get",
    path: "/v1/detect/windows",
    summary: "Windows rebuilt from the ledger, as the detector would have seen them (for replays)",
    query: z
      .object({ ...ledgerWindowsQuerySchema.partial().shape, scope: z.string().optional().describe("comma-separated scopes") })
      .omit({ scopes: true }),
    ok: { description: "the windows", schema: z.record(z.string(), z.unknown()) },
  },
];

/** hono's `/:id` → OpenAPI's `/{id}`. */
export const openApiPath = (pattern: string) => pattern.replace(/:([A-Za-z_]\w*)/g, "{$1}");

let cached: object | undefined;

export function openApiDocument(): object {
  if (cached) return cached;
  const registry = new OpenAPIRegistry();
  const bearer = registry.registerComponent("securitySchemes", "apiKey", {
    type: "http",
    scheme: "bearer",
    description: "an API key, cl_<id>_<secret> (`costline keys create`)",
  });
  for (const e of endpoints) {
    const content = (type: string, schema?: z.ZodType) => ({ [type]: { schema: schema ?? z.string() } });
    registry.registerPath({
      method: e.method,
      path: openApiPath(e.path),
      summary: e.summary,
      security: e.open ? [] : [{ [bearer.name]: [] }],
      request: {
        params: e.params,
        query: e.query,
        body: e.body ? { content: { "application/json": { schema: e.body } }, required: !e.query } : undefined,
      },
      responses: {
        [e.ok.status ?? 200]: { description: e.ok.description, content: content(e.ok.type ?? "application/json", e.ok.schema) },
        ...(e.open ? {} : errors),
        ...e.extra,
      },
    });
  }
  cached = new OpenApiGeneratorV31(registry.definitions).generateDocument({
    openapi: "3.1.0",
    info: {
      title: "costline",
      version: "1",
      description:
        "Real-time cost ledger and guard for LLM products. Every /v1 route needs `Authorization: Bearer cl_…`; a tenant key sees only its tenant. docs/api.md has the guide.",
    },
  });
  return cached;
}
