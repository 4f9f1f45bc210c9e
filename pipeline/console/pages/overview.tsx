// Overview: spend today, month to date and projected month end per tenant,
// the all-time ledger totals (the figures `costline totals` prints), burn
// against each budget, and the unpriced share and coverage. The page paints
// with the spend (read from the hourly rollup) and loads the slower panels —
// the exact totals and coverage read the ledger itself — after it, each
// fetched again on its own by htmx, so a slow panel never holds the page.
import type { Child } from "hono/jsx";
import type { Totals } from "../../queries/totals.ts";
import { Decimal } from "../../pricing/decimal.ts";
import type { BudgetState, TenantSpend } from "../console-data.ts";
import { count, pct } from "../format.ts";
import { Money } from "../layout.tsx";

const share = (part: number, whole: number) => (whole === 0 ? "—" : pct(part / whole));
const seconds = (ms: number) => `${Math.max(1, Math.round(ms / 1000))}s`;

/** The panels loaded after the page (their fragment routes are /fragments/overview/<name>). */
export const overviewPanels = ["totals", "budgets", "coverage"] as const;
export type OverviewPanel = (typeof overviewPanels)[number];

/** The page: the spend inline, each slower panel as a placeholder that loads itself, then refreshes every `everyMs`. */
export function OverviewPage(p: { spend: TenantSpend[]; at: string; tenant: string | undefined; pollMs: number; panelMs: number }) {
  return (
    <div id="overview">
      <SpendFragment spend={p.spend} at={p.at} pollMs={p.pollMs} />
      <LazyPanel name="totals" everyMs={p.panelMs}>
        <TotalsCard />
      </LazyPanel>
      <LazyPanel name="budgets" everyMs={p.panelMs}>
        <section>
          <h2>Budgets</h2>
          <p class="loading">loading…</p>
        </section>
      </LazyPanel>
      {p.tenant === undefined ? (
        <p class="hint">Pick a tenant for its coverage (direct, allocated, unattributed cost).</p>
      ) : (
        <LazyPanel name="coverage" everyMs={p.panelMs}>
          <section>
            <h2>Coverage this month ({p.tenant})</h2>
            <p class="loading">loading…</p>
          </section>
        </LazyPanel>
      )}
    </div>
  );
}

function LazyPanel(p: { name: OverviewPanel; everyMs: number; children: Child }) {
  return (
    <div
      id={`overview-${p.name}`}
      class="panel"
      hx-get={`/fragments/overview/${p.name}`}
      hx-trigger={`load, every ${seconds(p.everyMs)}`}
      hx-swap="innerHTML"
    >
      {p.children}
    </div>
  );
}

/** A panel that could not be read (a query bound, say): said in place, the page goes on. */
export function PanelError(p: { title: string; message: string }) {
  return (
    <section>
      <h2>{p.title}</h2>
      <p class="error" role="alert">
        {p.message}
      </p>
    </section>
  );
}

/** Spend per tenant today, this month and projected, from the hourly rollup: refreshed every `pollMs`. */
export function SpendFragment(p: { spend: TenantSpend[]; at: string; pollMs: number }) {
  const sum = (k: "today_usd" | "mtd_usd" | "projected_usd") => p.spend.reduce((s, r) => s.plus(r[k]), new Decimal(0));
  return (
    <div id="overview-spend" hx-get="/fragments/overview/spend" hx-trigger={`every ${seconds(p.pollMs)}`} hx-swap="outerHTML">
      <section class="cards">
        <div class="card">
          <h2>Today</h2>
          <p class="big" data-figure="today">
            <Money value={sum("today_usd")} />
          </p>
        </div>
        <div class="card">
          <h2>Month to date</h2>
          <p class="big" data-figure="mtd">
            <Money value={sum("mtd_usd")} />
          </p>
        </div>
        <div class="card">
          <h2>Projected month end</h2>
          <p class="big" data-figure="projected">
            <Money value={sum("projected_usd")} />
          </p>
        </div>
      </section>

      <section>
        <h2>Per tenant (UTC days and months)</h2>
        <div class="scroll">
          <table id="tenants">
            <thead>
              <tr>
                <th>tenant</th>
                <th class="num">today</th>
                <th class="num">month to date</th>
                <th class="num">projected</th>
                <th class="num">events today</th>
                <th class="num">unpriced today</th>
                <th class="num">unpriced this month</th>
              </tr>
            </thead>
            <tbody>
              {p.spend.length === 0 ? (
                <tr>
                  <td colspan={7} class="empty">
                    No spend this month yet.
                  </td>
                </tr>
              ) : (
                p.spend.map((r) => (
                  <tr data-tenant={r.tenant}>
                    <td>{r.tenant}</td>
                    <td class="num">
                      <Money value={r.today_usd} />
                    </td>
                    <td class="num">
                      <Money value={r.mtd_usd} />
                    </td>
                    <td class="num">
                      <Money value={r.projected_usd} />
                    </td>
                    <td class="num">{count(r.events_today)}</td>
                    <td class="num">{share(r.unpriced_today, r.events_today)}</td>
                    <td class="num">{share(r.unpriced_mtd, r.events_mtd)}</td>
                  </tr>
                ))
              )}
            </tbody>
          </table>
        </div>
      </section>
      <p class="hint">
        Updated <time>{p.at}</time>; refreshes every {seconds(p.pollMs).replace("s", " s")}.
      </p>
    </div>
  );
}

/** The all-time ledger totals, exact (what `costline totals` prints); without totals, a placeholder. */
export function TotalsCard(p: { totals?: Totals }) {
  const t = p.totals;
  return (
    <section class="cards">
      <div class="card" id="totals">
        <h2>Ledger, all time</h2>
        {t ? (
          <>
            <p class="big" data-figure="total">
              <Money value={t.cost_usd} />
            </p>
            <p class="sub">
              <span data-figure="events">{count(t.events)}</span> events · <span data-figure="unpriced">{count(t.unpriced_events)}</span>{" "}
              unpriced
            </p>
          </>
        ) : (
          <p class="big loading">…</p>
        )}
      </div>
    </section>
  );
}

export function BudgetsPanel(p: { budgets: BudgetState[] }) {
  return (
    <section>
      <h2>Budgets</h2>
      {p.budgets.length === 0 ? (
        <p class="empty">
          No budgets. <a href="/budgets">Set one.</a>
        </p>
      ) : (
        <ul class="burns">
          {p.budgets.map((b) => (
            <li class={b.used >= 1 ? "over" : b.used >= 0.9 ? "near" : ""}>
              <span class="label">
                {b.key} · {b.budget.period}
                {b.budget.hard ? " · hard" : ""}
              </span>
              <progress max="1" value={String(Math.min(b.used, 1))}>
                {pct(b.used)}
              </progress>
              <span class="num">
                <Money value={b.spend_usd} /> of <Money value={b.budget.amount_usd} /> ({pct(b.used)}), forecast{" "}
                <Money value={b.forecast_usd} />
              </span>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

export function CoveragePanel(p: { tenant: string; coverage: Record<string, string> | undefined }) {
  const total = Number(p.coverage?.total_usd ?? 0);
  return (
    <section>
      <h2>Coverage this month ({p.tenant})</h2>
      <dl class="coverage">
        {(["direct_usd", "allocated_usd", "unallocated_usd", "pending_usd", "unattributed_usd"] as const).map((k) => (
          <div>
            <dt>{k.replace("_usd", "")}</dt>
            <dd>
              <Money value={p.coverage?.[k] ?? "0"} />{" "}
              <span class="sub">{total === 0 ? "—" : pct(Number(p.coverage?.[k] ?? 0) / total)}</span>
            </dd>
          </div>
        ))}
      </dl>
    </section>
  );
}
