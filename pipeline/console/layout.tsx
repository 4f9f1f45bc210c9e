// The page shell: navigation, who is signed in (and, for an admin, which
// tenant the pages are about), and the assets. Nothing inline: the
// Content-Security-Policy allows scripts and styles from this origin only.
import type { Child } from "hono/jsx";
import type { Principal } from "../api/api-keys.ts";
import { Decimal } from "../pricing/decimal.ts";
import { usd } from "./format.ts";

export interface PageContext {
  principal: Principal;
  /** The tenant the pages are about (undefined: an admin looking at every tenant). */
  tenant: string | undefined;
  csrf: string;
  /** Tenants an admin can switch to. */
  tenants: string[];
  path: string;
  notice?: string;
  error?: string;
}

const nav = [
  ["/", "Overview"],
  ["/explorer", "Explorer"],
  ["/posts", "Posts"],
  ["/alerts", "Alerts"],
  ["/budgets", "Budgets"],
  ["/controls", "Controls"],
  ["/pipeline", "Pipeline"],
] as const;

export function Money(p: { value: string | Decimal }) {
  const exact = new Decimal(p.value).toFixed();
  return (
    <span class="money" data-usd={exact} title={exact}>
      {usd(p.value)}
    </span>
  );
}

export function Csrf(p: { token: string }) {
  return <input type="hidden" name="_csrf" value={p.token} />;
}

function TenantSwitch(p: { ctx: PageContext }) {
  const { ctx } = p;
  if (ctx.principal.role !== "admin")
    return (
      <span class="who">
        tenant <strong>{ctx.tenant}</strong>
      </span>
    );
  return (
    <form method="post" action="/session/tenant" class="switch">
      <Csrf token={ctx.csrf} />
      <input type="hidden" name="next" value={ctx.path} />
      <label>
        admin · tenant{" "}
        <select name="tenant" data-autosubmit="1">
          <option value="" selected={ctx.tenant === undefined}>
            every tenant
          </option>
          {ctx.tenants.map((t) => (
            <option value={t} selected={ctx.tenant === t}>
              {t}
            </option>
          ))}
        </select>
      </label>
      <button type="submit" class="small">
        switch
      </button>
    </form>
  );
}

export function Page(p: { ctx: PageContext; title: string; children: Child }) {
  const { ctx } = p;
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <meta
          name="htmx-config"
          content='{"includeIndicatorStyles":false,"allowEval":false,"allowScriptTags":false,"historyCacheSize":0}'
        />
        <title>{`${p.title} · costline`}</title>
        <link rel="stylesheet" href="/assets/uplot.min.css" />
        <link rel="stylesheet" href="/assets/console.css" />
        <script src="/assets/htmx.min.js" defer></script>
        <script src="/assets/uplot.min.js" defer></script>
        <script src="/assets/console.js" defer></script>
      </head>
      <body>
        <header>
          <a class="brand" href="/">
            costline
          </a>
          <nav>
            {nav.map(([href, label]) => (
              <a href={href} class={(href === "/" ? ctx.path === "/" : ctx.path.startsWith(href)) ? "active" : ""}>
                {label}
              </a>
            ))}
          </nav>
          <div class="session">
            <TenantSwitch ctx={ctx} />
            <form method="post" action="/logout">
              <Csrf token={ctx.csrf} />
              <button type="submit" class="small">
                sign out
              </button>
            </form>
          </div>
        </header>
        <main>
          <h1>{p.title}</h1>
          {ctx.notice ? (
            <p class="notice" role="status">
              {ctx.notice}
            </p>
          ) : (
            ""
          )}
          {ctx.error ? (
            <p class="error" role="alert">
              {ctx.error}
            </p>
          ) : (
            ""
          )}
          {p.children}
        </main>
      </body>
    </html>
  );
}

export function LoginPage(p: { error?: string; next: string }) {
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>Sign in · costline</title>
        <link rel="stylesheet" href="/assets/console.css" />
      </head>
      <body class="login">
        <main>
          <h1>costline</h1>
          <p>
            Sign in with an API key. A tenant key shows its tenant; an admin key shows every tenant and can change budgets, controls and
            silences.
          </p>
          {p.error ? (
            <p class="error" role="alert">
              {p.error}
            </p>
          ) : (
            ""
          )}
          <form method="post" action="/login">
            <input type="hidden" name="next" value={p.next} />
            <label>
              API key
              <input type="password" name="key" autocomplete="off" required placeholder="cl_…" />
            </label>
            <button type="submit">Sign in</button>
          </form>
          <p class="hint">
            The embedded stack keeps its admin key in $COSTLINE_HOME/admin.key; <code>npx costline keys create --tenant T</code> makes a
            tenant key.
          </p>
        </main>
      </body>
    </html>
  );
}
