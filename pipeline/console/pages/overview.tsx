// Overview: spend today, month to date and projected month end per tenant,
// the all-time ledger totals (the figures `costline totals` prints), burn
// against each budget, and the unpriced share and coverage. The body is a
// fragment that htmx fetches again every few seconds.
import type { Totals } from "../../queries/totals.ts";
import { Decimal } from "../../pricing/decimal.ts";
import type { BudgetState, TenantSpend } from "../console-data.ts";
import { count, pct } from "../format.ts";
import { Money } from "../layout.tsx";

export interface OverviewData {
  tenant: string | undefined;
  spend: TenantSpend[];
  totals: Totals;
  budgets: BudgetState[];
  coverage?: Record<string, string>;
  at: string;
}

const share = (part: number, whole: number) => (whole === 0 ? "—" : pct(part / whole));

export function OverviewFragment(p: { data: OverviewData; pollMs: number; query: string }) {
  const { data } = p;
  const sum = (k: "today_usd" | "mtd_usd" | "projected_usd") => data.spend.reduce((s, r) => s.plus(r[k]), new Decimal(0));
  const coverageTotal = Number(data.coverage?.total_usd ?? 0);
  return (
    <div id="overview" hx-get={`/fragments/overview${p.query}`} hx-trigger={`every ${Math.round(p.pollMs / 1000)}s`} hx-swap="outerHTML">
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
        <div class="card" id="totals">
          <h2>Ledger, all time</h2>
          <p class="big" data-figure="total">
            <Money value={data.totals.cost_usd} />
          </p>
          <p class="sub">
            <span data-figure="events">{count(data.totals.events)}</span> events ·{" "}
            <span data-figure="unpriced">{count(data.totals.unpriced_events)}</span> unpriced
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
              {data.spend.length === 0 ? (
                <tr>
                  <td colspan={7} class="empty">
                    No spend this month yet.
                  </td>
                </tr>
              ) : (
                data.spend.map((r) => (
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

      <section>
        <h2>Budgets</h2>
        {data.budgets.length === 0 ? (
          <p class="empty">
            No budgets. <a href="/budgets">Set one.</a>
          </p>
        ) : (
          <ul class="burns">
            {data.budgets.map((b) => (
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

      {data.coverage ? (
        <section>
          <h2>Coverage this month ({data.tenant})</h2>
          <dl class="coverage">
            {(["direct_usd", "allocated_usd", "unallocated_usd", "pending_usd", "unattributed_usd"] as const).map((k) => (
              <div>
                <dt>{k.replace("_usd", "")}</dt>
                <dd>
                  <Money value={data.coverage![k] ?? "0"} />{" "}
                  <span class="sub">{coverageTotal === 0 ? "—" : pct(Number(data.coverage![k] ?? 0) / coverageTotal)}</span>
                </dd>
              </div>
            ))}
          </dl>
        </section>
      ) : (
        <p class="hint">Pick a tenant for its coverage (direct, allocated, unattributed cost).</p>
      )}
      <p class="hint">
        Updated <time>{data.at}</time>; refreshes every {Math.round(p.pollMs / 1000)} s.
      </p>
    </div>
  );
}
