// Budgets: each with its burn-down (spend so far, the budget line and the
// forecast to the period's end, drawn by console.js), and — for an admin —
// forms to set a budget, edit one or delete it.
import { budgetPeriods, type BudgetRecord } from "../../../schemas/index.ts";
import type { BudgetState } from "../console-data.ts";
import { pct, when } from "../format.ts";
import { Csrf, Money } from "../layout.tsx";

const dims = [
  ["", "the whole tenant"],
  ["persona_id", "persona"],
  ["feature", "feature"],
  ["user_id", "user"],
  ["model", "model"],
] as const;

function scopeDim(b: BudgetRecord): { dim: string; value: string } {
  for (const [k] of dims.slice(1)) {
    const v = b.scope[k as "persona_id"];
    if (v) return { dim: k, value: v };
  }
  return { dim: "", value: "" };
}

function BudgetForm(p: { csrf: string; tenant: string | undefined; budget?: BudgetRecord; submit: string }) {
  const b = p.budget;
  const { dim, value } = b ? scopeDim(b) : { dim: "", value: "" };
  return (
    <form method="post" action="/budgets" class="grid-form">
      <Csrf token={p.csrf} />
      <label>
        tenant
        <input type="text" name="tenant" value={b?.scope.tenant ?? p.tenant ?? ""} required maxlength={128} readonly={Boolean(b)} />
      </label>
      <label>
        scope
        <select name="dim">
          {dims.map(([v, label]) => (
            <option value={v} selected={dim === v}>
              {label}
            </option>
          ))}
        </select>
      </label>
      <label>
        named
        <input type="text" name="value" value={value} maxlength={256} />
      </label>
      <label>
        period
        <select name="period">
          {budgetPeriods.map((x) => (
            <option value={x} selected={(b?.period ?? "monthly") === x}>
              {x}
            </option>
          ))}
        </select>
      </label>
      <label>
        amount (USD)
        <input type="text" name="amount_usd" inputmode="decimal" value={b?.amount_usd ?? ""} required pattern="\d+(\.\d+)?" />
      </label>
      <label>
        alert at
        <input type="text" name="thresholds" value={(b?.thresholds ?? [0.5, 0.75, 0.9, 1]).join(",")} />
      </label>
      <label>
        time zone
        <input type="text" name="timezone" value={b?.timezone ?? "UTC"} />
      </label>
      <label class="check">
        <input type="checkbox" name="hard" value="1" checked={b?.hard ?? false} /> hard (pause at 100 %)
      </label>
      <button type="submit">{p.submit}</button>
    </form>
  );
}

export function BudgetsPage(p: { budgets: BudgetState[]; admin: boolean; csrf: string; tenant: string | undefined }) {
  return (
    <>
      {p.budgets.length === 0 ? <p class="empty">No budgets yet.</p> : ""}
      <ul class="budgets" id="budgets">
        {p.budgets.map((b) => {
          const chart = {
            burn: b.burn,
            amount: Number(b.budget.amount_usd),
            start: Date.parse(b.period_start) / 1000,
            end: Date.parse(b.period_end) / 1000,
            now: Date.now() / 1000,
            spend: Number(b.spend_usd),
            forecast: Number(b.forecast_usd),
          };
          return (
            <li class={`budget ${b.used >= 1 ? "over" : b.used >= 0.9 ? "near" : ""}`} data-budget={b.key}>
              <div class="alert-head">
                <strong>{b.key}</strong>
                <span class="scope">
                  {b.budget.period} ({b.budget.timezone}){b.budget.hard ? " · hard" : ""} · {when(b.period_start)} – {when(b.period_end)}
                </span>
              </div>
              <p>
                <Money value={b.spend_usd} /> of <Money value={b.budget.amount_usd} /> spent ({pct(b.used)}); at this rate{" "}
                <Money value={b.forecast_usd} /> by the period's end.
              </p>
              <progress max="1" value={String(Math.min(b.used, 1))}>
                {pct(b.used)}
              </progress>
              <div
                class="chart small"
                data-chart="burn"
                data-series={JSON.stringify(chart)}
                role="img"
                aria-label="burn-down: spend, budget and forecast"
              ></div>
              {p.admin ? (
                <details>
                  <summary>Edit</summary>
                  <BudgetForm csrf={p.csrf} tenant={p.tenant} budget={b.budget} submit="Save" />
                  <form method="post" action="/budgets/delete" class="inline">
                    <Csrf token={p.csrf} />
                    <input type="hidden" name="key" value={b.key} />
                    <button type="submit" class="small danger">
                      Delete this budget
                    </button>
                  </form>
                </details>
              ) : (
                ""
              )}
            </li>
          );
        })}
      </ul>
      {p.admin ? (
        <section>
          <h2>Set a budget</h2>
          <BudgetForm csrf={p.csrf} tenant={p.tenant} submit="Set budget" />
        </section>
      ) : (
        <p class="hint">Budgets are set with an admin key.</p>
      )}
    </>
  );
}
