// The web console, served by the API at `/`: sign-in with an API key, then
// overview, explorer, post, alerts, budgets, controls and pipeline pages,
// rendered on the server with Hono's JSX (every value escaped), live parts
// refreshed by htmx, charts drawn by uPlot. Reads go through the API's own
// queries and stores; writes (admin only) through the same stores the /v1
// routes use, so the audit trails name the operator's key either way.
import type { ClickHouseClient } from "@clickhouse/client";
import { Hono, type Context } from "hono";
import type { Child } from "hono/jsx";
import { bodyLimit } from "hono/body-limit";
import { getCookie } from "hono/cookie";
import * as z from "zod";
import type { KeyStore } from "../api/api-keys.ts";
import { postCosts } from "../api/routes-posts.ts";
import type { BudgetStore } from "../budgets/budget-store.ts";
import type { ControlStore } from "../guard/control-store.ts";
import type { HealthReport } from "../health/health-status.ts";
import type { SilenceStore } from "../notify/silences.ts";
import { silenceState } from "../notify/silences.ts";
import { PermanentError, formatIssues } from "../errors.ts";
import { utcFromInput } from "./format.ts";
import { queryRows } from "../clickhouse/client.ts";
import { sqlFile } from "../queries/sql-files.ts";
import { buildCostsQuery, costsQuerySchema, type CostsQuery } from "../queries/costs-query.ts";
import { exploreCosts } from "../queries/explorer-query.ts";
import { analyticsClient, type Analytics } from "../queries/analytics.ts";
import { QueryLimitError } from "../queries/query-limits.ts";
import { alertsQuerySchema, listAlerts } from "../queries/alerts-query.ts";
import { budgetSchema, controlSchema, controlScopeSchema, sharedCostKinds, type Control } from "../../schemas/index.ts";
import { serveAsset } from "./assets.ts";
import { budgetStates, consoleTotals, controlHistory, pipelineState, tenantNames, tenantSpend, type PipelineNats } from "./console-data.ts";
import {
  clearSessionCookie,
  localPath,
  requireAdminSession,
  requireSession,
  sameOrigin,
  setSessionCookie,
  type ConsoleEnv,
} from "./console-auth.ts";
import { createSessionStore, SESSION_COOKIE, type SessionOptions } from "./session.ts";
import { LoginPage, Page, type PageContext } from "./layout.tsx";
import { BudgetsPanel, CoveragePanel, OverviewPage, PanelError, SpendFragment, TotalsCard } from "./pages/overview.tsx";
import { ExplorerPage, explorerRanges, MAX_SERIES, type ExplorerForm } from "./pages/explorer.tsx";
import { PostLookup, PostPage } from "./pages/post.tsx";
import { AlertsPage } from "./pages/alerts.tsx";
import { BudgetsPage } from "./pages/budgets.tsx";
import { ControlsPage } from "./pages/controls.tsx";
import { PipelineFragment } from "./pages/pipeline.tsx";

export interface ConsoleDeps {
  /** Where every page's read runs: bounded, scheduled fairly per key, cancelled when the browser goes away. */
  analytics: Analytics;
  keys: KeyStore;
  controls?: ControlStore;
  budgets?: BudgetStore;
  silences?: SilenceStore;
  health: () => Promise<HealthReport>;
  /** The stack's NATS, for the pipeline page's consumer lag and DLQ (absent: those parts are empty). */
  nats?: PipelineNats;
  /** How often live parts refresh (default 5 s). */
  pollMs?: number;
  /** How often the overview's slower panels (exact totals, budgets, coverage) refresh (default 15 s). */
  panelMs?: number;
  sessions?: SessionOptions;
}

// Scripts and styles from this origin only; no inline code, no framing, forms post here only.
const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

const by = (keyId: string | undefined) => `operator:${keyId ?? "unknown"}`;
const DAY_MS = 86_400_000;

function pageContext(c: Context<ConsoleEnv>, tenants: string[]): PageContext {
  const session = c.get("session");
  const flash = session.flash;
  session.flash = undefined;
  return {
    principal: c.get("principal"),
    tenant: c.get("tenant"),
    csrf: session.csrf,
    tenants,
    path: new URL(c.req.url).pathname + new URL(c.req.url).search,
    ...flash,
  };
}

const localInput = (iso: string) => iso.slice(0, 16);

export function consoleRoutes(deps: ConsoleDeps): Hono<ConsoleEnv> {
  const app = new Hono<ConsoleEnv>();
  const sessions = createSessionStore(deps.sessions);
  const lifetimeS = Math.round((deps.sessions?.lifetimeMs ?? 12 * 3_600_000) / 1000);
  const pollMs = deps.pollMs ?? 5000;
  const panelMs = deps.panelMs ?? 15_000;
  // This request's view of the analytics lanes: its queries bounded, queued fairly per key, killed if the browser leaves.
  const db = (c: Context<ConsoleEnv>): ClickHouseClient =>
    analyticsClient(deps.analytics, { signal: c.req.raw.signal, owner: c.get("principal").keyId });
  const session = requireSession(sessions, deps.keys);
  const admin = requireAdminSession();

  // Mounted at /, these would also see unmatched /v1 paths: the API keeps its own answers and limits.
  const own = (path: string) => !path.startsWith("/v1/");
  app.use("*", async (c, next) => {
    if (!own(c.req.path)) return next();
    await next();
    c.header("content-security-policy", CSP);
    c.header("x-content-type-options", "nosniff");
    c.header("x-frame-options", "DENY");
    // same-origin, not no-referrer: with no-referrer a browser sends "Origin: null" on form posts, which the CSRF check refuses.
    c.header("referrer-policy", "same-origin");
    if (!c.req.path.startsWith("/assets/")) c.header("cache-control", "no-store");
  });
  const formLimit = bodyLimit({ maxSize: 64 * 1024, onError: (c) => c.text("form too large", 413, { connection: "close" }) });
  app.use("*", (c, next) => (own(c.req.path) ? formLimit(c, next) : next()));

  app.get("/assets/:name", (c) => serveAsset(c, c.req.param("name")));
  app.get("/favicon.ico", (c) => c.body(null, 204));

  app.get("/login", (c) => c.html(<LoginPage next={localPath(c.req.query("next"))} />));
  app.post("/login", async (c) => {
    const form = (await c.req.parseBody().catch(() => ({}))) as Record<string, unknown>;
    const next = localPath(form.next);
    // A sign-in form posted from another site could sign the browser in as someone else.
    if (!sameOrigin(c)) return c.html(<LoginPage next={next} error="sign in from this site's own page" />, 403);
    const key = typeof form.key === "string" ? form.key.trim() : "";
    const principal = key ? await deps.keys.verify(key) : undefined;
    if (!principal) return c.html(<LoginPage next={next} error="That key is not valid (wrong, unknown or revoked)." />, 401);
    const old = getCookie(c, SESSION_COOKIE);
    if (old) sessions.close(old);
    // A new id at every sign-in: a session id planted before it is worth nothing.
    setSessionCookie(c, sessions.open(key), lifetimeS);
    return c.redirect(next, 303);
  });
  app.post("/logout", session, (c) => {
    sessions.close(c.get("session").id);
    clearSessionCookie(c);
    return c.redirect("/login", 303);
  });
  app.post("/session/tenant", session, admin, (c) => {
    const t = c.get("form").tenant ?? "";
    c.get("session").tenant = t.slice(0, 128);
    return c.redirect(localPath(c.get("form").next), 303);
  });

  const tenantsFor = async (c: Context<ConsoleEnv>) => (c.get("principal").role === "admin" ? tenantNames(db(c)) : []);
  const back = (c: Context<ConsoleEnv>, fallback: string, flash: { notice?: string; error?: string }) => {
    c.get("session").flash = flash;
    return c.redirect(localPath(c.get("form").next, fallback), 303);
  };

  // ---------------------------------------------------------------- overview
  // The page paints with the spend (the hourly rollup); the panels that read the ledger load after it.
  app.get("/", session, async (c) => {
    const now = new Date();
    const [tenants, spend] = await Promise.all([tenantsFor(c), tenantSpend(db(c), c.get("tenant"), now)]);
    return c.html(
      <Page ctx={pageContext(c, tenants)} title="Overview">
        <OverviewPage spend={spend} at={now.toISOString()} tenant={c.get("tenant")} pollMs={pollMs} panelMs={panelMs} />
      </Page>,
    );
  });
  app.get("/fragments/overview/spend", session, async (c) => {
    const now = new Date();
    return c.html(<SpendFragment spend={await tenantSpend(db(c), c.get("tenant"), now)} at={now.toISOString()} pollMs={pollMs} />);
  });
  /** A panel's body, or what stopped it (a query bound) in its place: a panel that cannot be read never breaks the page. */
  const panel = async (title: string, render: () => Promise<Child>) => {
    try {
      return <>{await render()}</>;
    } catch (err) {
      if (err instanceof QueryLimitError) return <PanelError title={title} message={err.message} />;
      throw err;
    }
  };
  app.get("/fragments/overview/totals", session, async (c) =>
    c.html(await panel("Ledger, all time", async () => <TotalsCard totals={await consoleTotals(db(c), c.get("tenant"))} />)),
  );
  app.get("/fragments/overview/budgets", session, async (c) =>
    c.html(
      await panel("Budgets", async () => (
        <BudgetsPanel budgets={deps.budgets ? await budgetStates(deps.budgets, db(c), c.get("tenant")) : []} />
      )),
    ),
  );
  app.get("/fragments/overview/coverage", session, async (c) => {
    const tenant = c.get("tenant");
    if (tenant === undefined) return c.html(<p class="hint">Pick a tenant for its coverage (direct, allocated, unattributed cost).</p>);
    const now = new Date();
    const monthStart = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1)).toISOString();
    return c.html(
      await panel(`Coverage this month (${tenant})`, async () => {
        const [coverage] = await queryRows<Record<string, string>>(db(c), sqlFile("tenant_coverage"), {
          tenant,
          from: monthStart.replace("T", " ").replace("Z", ""),
          to: now.toISOString().replace("T", " ").replace("Z", ""),
          shared_kinds: sharedCostKinds,
        });
        return <CoveragePanel tenant={tenant} coverage={coverage} />;
      }),
    );
  });

  // ---------------------------------------------------------------- explorer
  function explorerForm(c: Context<ConsoleEnv>): ExplorerForm {
    const q = c.req.query();
    const now = Date.now();
    const range = q.range && (q.range === "custom" || explorerRanges.some(([v]) => v === q.range)) ? q.range : "24h";
    const span = explorerRanges.find(([v]) => v === range)?.[2] ?? DAY_MS;
    const from = range === "custom" && q.from ? q.from : localInput(new Date(now - span).toISOString());
    const to = range === "custom" && q.to ? q.to : localInput(new Date(now + 60_000).toISOString());
    const granularity = q.granularity ?? (span <= DAY_MS ? "hour" : "day");
    return {
      range,
      from,
      to,
      granularity,
      group_by: q.group_by ?? "model",
      filter_key: q.filter_key ?? "",
      filter_value: q.filter_value ?? "",
    };
  }
  function explorerQuery(form: ExplorerForm): CostsQuery {
    const q = costsQuerySchema.safeParse({
      // Both ends as ISO UTC with seconds, whichever form the input took.
      from: utcFromInput(form.from),
      to: utcFromInput(form.to),
      granularity: form.granularity,
      group_by: form.group_by || undefined,
      filter: form.filter_key && form.filter_value ? [`${form.filter_key}:${form.filter_value}`] : [],
    });
    if (!q.success) throw new PermanentError("validation", formatIssues(q.error, "explorer", 3));
    return q.data;
  }
  app.get("/explorer", session, async (c) => {
    const form = explorerForm(c);
    const ctx = pageContext(c, await tenantsFor(c));
    const csvHref = `/explorer.csv?${new URLSearchParams(form as unknown as Record<string, string>).toString()}`;
    try {
      const started = performance.now();
      const result = await exploreCosts(db(c), explorerQuery(form), c.get("tenant"), { maxSeries: MAX_SERIES });
      return c.html(
        <Page ctx={ctx} title="Explorer">
          <ExplorerPage form={form} result={result} csvHref={csvHref} ms={Math.round(performance.now() - started)} />
        </Page>,
      );
    } catch (err) {
      if (!(err instanceof PermanentError) && !(err instanceof QueryLimitError)) throw err;
      const empty = { groups: [], groupCount: 0, total: { events: 0, cost_usd: "0" }, series: [], source: "—" };
      return c.html(
        <Page ctx={{ ...ctx, error: err.message }} title="Explorer">
          <ExplorerPage form={form} result={empty} csvHref={csvHref} ms={0} />
        </Page>,
        err instanceof QueryLimitError ? (err.status === 499 ? 400 : err.status) : 400,
      );
    }
  });
  app.get("/explorer.csv", session, async (c) => {
    const form = explorerForm(c);
    let q: CostsQuery;
    try {
      q = explorerQuery(form);
    } catch (err) {
      if (err instanceof PermanentError) return c.text(`bad explorer parameters: ${err.message}`, 400);
      throw err;
    }
    // Every bucket × group row (up to the builder's LIMIT), read under the same bounds as the page.
    const built = buildCostsQuery(q, c.get("tenant"));
    const raw = await queryRows<Record<string, string>>(db(c), built.sql, built.params);
    const cols = [
      "bucket",
      ...(form.group_by ? [form.group_by] : []),
      "events",
      "unpriced_events",
      "cost_usd",
      "input_tokens",
      "output_tokens",
    ];
    // A cell starting with = + - @ is prefixed with ' so a spreadsheet never runs it as a formula.
    const cell = (v: unknown) => {
      let s = String(v ?? "");
      if (/^[=+\-@\t\r]/.test(s) && !/^-?\d/.test(s)) s = `'${s}`;
      return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
    };
    const body = [cols.join(","), ...raw.map((row) => cols.map((k) => cell(row[k])).join(","))].join("\n") + "\n";
    return c.body(body, 200, {
      "content-type": "text/csv; charset=utf-8",
      "content-disposition": 'attachment; filename="costline-explorer.csv"',
    });
  });

  // ---------------------------------------------------------------- post
  app.get("/posts", session, async (c) => {
    const ctx = pageContext(c, await tenantsFor(c));
    const id = (c.req.query("id") ?? "").trim();
    const tenant = c.get("tenant") ?? (c.get("principal").role === "admin" ? c.req.query("tenant") || undefined : undefined);
    if (!id)
      return c.html(
        <Page ctx={ctx} title="Post">
          <PostLookup id="" />
          <p class="hint">Open a post by its id, or from the explorer grouped by post.</p>
        </Page>,
      );
    if (tenant === undefined || id.length > 256)
      return c.html(
        <Page
          ctx={{
            ...ctx,
            error:
              id.length > 256
                ? "a post id has at most 256 characters"
                : "pick a tenant first (the switch at the top): post ids are per tenant",
          }}
          title="Post"
        >
          <PostLookup id={id.slice(0, 256)} />
        </Page>,
        400,
      );
    const costs = await postCosts(db(c), tenant, id);
    if (!costs)
      return c.html(
        <Page ctx={{ ...ctx, error: "No costs are recorded for that post." }} title="Post">
          <PostLookup id={id} />
        </Page>,
        404,
      );
    const limit = 500;
    const params = { tenant, post_id: id, limit, offset: 0 };
    const [rows, allocated] = await Promise.all([
      queryRows<Record<string, unknown>>(db(c), sqlFile("post_audit"), params),
      queryRows<Record<string, unknown>>(db(c), sqlFile("post_allocation_audit"), params),
    ]);
    return c.html(
      <Page ctx={ctx} title={`Post ${id}`}>
        <PostPage costs={costs} audit={{ rows, allocated, limit }} />
      </Page>,
    );
  });

  // ---------------------------------------------------------------- alerts
  app.get("/alerts", session, async (c) => {
    const form = { state: c.req.query("state") ?? "all", severity: c.req.query("severity") ?? "", type: c.req.query("type") ?? "" };
    const q = alertsQuerySchema.safeParse({
      state: form.state,
      severity: form.severity || undefined,
      type: form.type || undefined,
      limit: 200,
    });
    const ctx = pageContext(c, await tenantsFor(c));
    const alerts = q.success ? await listAlerts(db(c), q.data, c.get("tenant")) : [];
    // An alert counts as silenced by an active silence on its fingerprint.
    const silenced = new Map<string, string>();
    for (const s of deps.silences ? await deps.silences.list() : []) {
      if (silenceState(s) !== "active") continue;
      const fp = s.matchers.find((m) => m.name === "fingerprint" && m.op === "=");
      if (fp) silenced.set(fp.value, s.ends_at);
    }
    return c.html(
      <Page ctx={q.success ? ctx : { ...ctx, error: formatIssues(q.error, "filter", 3) }} title="Alerts">
        <AlertsPage
          form={form}
          alerts={alerts}
          silenced={silenced}
          admin={c.get("principal").role === "admin" && Boolean(deps.silences)}
          csrf={ctx.csrf}
          path={ctx.path}
        />
      </Page>,
    );
  });
  app.post("/alerts/silence", session, admin, async (c) => {
    const f = c.get("form");
    if (!deps.silences) return back(c, "/alerts", { error: "silences are not available on this API" });
    try {
      await deps.silences.add(
        {
          matchers: [
            { name: "tenant", op: "=", value: f.tenant ?? "" },
            { name: "fingerprint", op: "=", value: f.fingerprint ?? "" },
          ],
          duration: ["1h", "4h", "1d"].includes(f.duration ?? "") ? f.duration : "4h",
          comment: "silenced from the console",
        },
        by(c.get("principal").keyId),
      );
      return back(c, "/alerts", { notice: `Silenced for ${f.duration ?? "4h"}.` });
    } catch (err) {
      if (err instanceof PermanentError) return back(c, "/alerts", { error: err.message });
      throw err;
    }
  });

  // ---------------------------------------------------------------- budgets
  app.get("/budgets", session, async (c) => {
    const ctx = pageContext(c, await tenantsFor(c));
    const budgets = deps.budgets ? await budgetStates(deps.budgets, db(c), c.get("tenant")) : [];
    return c.html(
      <Page ctx={ctx} title="Budgets">
        <BudgetsPage
          budgets={budgets}
          admin={c.get("principal").role === "admin" && Boolean(deps.budgets)}
          csrf={ctx.csrf}
          tenant={c.get("tenant")}
        />
      </Page>,
    );
  });
  app.post("/budgets", session, admin, async (c) => {
    const f = c.get("form");
    if (!deps.budgets) return back(c, "/budgets", { error: "budgets are not available on this API" });
    const scope: Record<string, string> = { tenant: f.tenant ?? "" };
    if (f.dim && ["persona_id", "feature", "user_id", "model"].includes(f.dim) && f.value) scope[f.dim] = f.value;
    const parsed = budgetSchema.safeParse({
      scope,
      period: f.period,
      timezone: f.timezone || "UTC",
      amount_usd: f.amount_usd,
      thresholds: (f.thresholds ?? "")
        .split(",")
        .map((s) => s.trim())
        .filter(Boolean)
        .map(Number),
      hard: f.hard === "1",
    });
    if (!parsed.success) return back(c, "/budgets", { error: formatIssues(parsed.error, "budget", 5) });
    const saved = await deps.budgets.set(parsed.data, by(c.get("principal").keyId));
    return back(c, "/budgets", { notice: `Budget ${saved.key} saved.` });
  });
  app.post("/budgets/delete", session, admin, async (c) => {
    const key = c.get("form").key ?? "";
    if (!deps.budgets) return back(c, "/budgets", { error: "budgets are not available on this API" });
    const deleted = await deps.budgets.delete(key, by(c.get("principal").keyId));
    return back(c, "/budgets", deleted ? { notice: `Budget ${key} deleted.` } : { error: `No budget ${key}.` });
  });

  // ---------------------------------------------------------------- controls
  app.get("/controls", session, async (c) => {
    const ctx = pageContext(c, await tenantsFor(c));
    const tenant = c.get("tenant");
    const [all, history] = await Promise.all([
      deps.controls ? deps.controls.listControls() : Promise.resolve([]),
      controlHistory(db(c), tenant),
    ]);
    const controls = all.filter((x) => tenant === undefined || x.scope.tenant === tenant);
    return c.html(
      <Page ctx={ctx} title="Controls">
        <ControlsPage
          controls={controls}
          history={history}
          admin={c.get("principal").role === "admin" && Boolean(deps.controls)}
          csrf={ctx.csrf}
          tenant={tenant}
        />
      </Page>,
    );
  });
  app.post("/controls", session, admin, async (c) => {
    const f = c.get("form");
    if (!deps.controls) return back(c, "/controls", { error: "controls are not available on this API" });
    const scope: Record<string, string> = { tenant: f.tenant ?? "" };
    if (f.dim && ["persona_id", "feature", "user_id", "model"].includes(f.dim) && f.value) scope[f.dim] = f.value;
    const now = Date.now();
    const minutes = (v: string | undefined) => (v && Number(v) > 0 ? new Date(now + Number(v) * 60_000).toISOString() : undefined);
    const map = Object.fromEntries(
      (f.map ?? "")
        .split(",")
        .map((p) => p.split("=").map((s) => s.trim()))
        .filter((p) => p.length === 2 && p[0] && p[1]),
    );
    const candidate: Partial<Control> = {
      scope: scope as Control["scope"],
      state: f.state as Control["state"],
      reason: f.reason ?? "",
      set_by: "",
      set_at: new Date(now).toISOString(),
      ...(f.state === "throttled" && f.rpm ? { throttle: { requests_per_minute: Number(f.rpm) } } : {}),
      ...(f.state === "degraded" && Object.keys(map).length ? { model_map: map } : {}),
      ...(f.state === "open" ? { paused_until: minutes(f.pause_minutes || "60") } : {}),
      ...(minutes(f.expires_minutes) ? { expires_at: minutes(f.expires_minutes) } : {}),
    };
    const parsed = controlSchema.extend({ reason: z.string().min(1).max(500) }).safeParse(candidate);
    if (!parsed.success) return back(c, "/controls", { error: formatIssues(parsed.error, "control", 5) });
    await deps.controls.setControl(parsed.data, by(c.get("principal").keyId));
    return back(c, "/controls", { notice: `Control set: ${parsed.data.state === "open" ? "paused" : parsed.data.state}.` });
  });
  app.post("/controls/clear", session, admin, async (c) => {
    const f = c.get("form");
    if (!deps.controls) return back(c, "/controls", { error: "controls are not available on this API" });
    let raw: unknown;
    try {
      raw = JSON.parse(f.scope ?? "");
    } catch {
      raw = undefined;
    }
    const scope = controlScopeSchema.safeParse(raw);
    if (!scope.success) return back(c, "/controls", { error: "not a control scope" });
    const cleared = await deps.controls.clearControl(scope.data, by(c.get("principal").keyId), f.reason || "cleared in the console");
    return back(c, "/controls", cleared ? { notice: "Control cleared." } : { error: "No control on that scope." });
  });

  // ---------------------------------------------------------------- pipeline
  const pipelineView = async (c: Context<ConsoleEnv>) => {
    const [state, health] = await Promise.all([pipelineState(db(c), deps.nats, c.get("tenant")), deps.health()]);
    return <PipelineFragment state={state} health={health} pollMs={pollMs} tenant={c.get("tenant")} />;
  };
  app.get("/pipeline", session, async (c) => {
    const [tenants, view] = await Promise.all([tenantsFor(c), pipelineView(c)]);
    return c.html(
      <Page ctx={pageContext(c, tenants)} title="Pipeline">
        {view}
      </Page>,
    );
  });
  app.get("/fragments/pipeline", session, async (c) => c.html(await pipelineView(c)));
  return app;
}
