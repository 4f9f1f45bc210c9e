// Alerts: firing and resolved, each with what was observed against what was
// expected, its evidence (the top contributors), the likeliest cause, and —
// for an admin — a one-click silence of its notifications (by fingerprint).
import { alertSeverities, alertTypes } from "../../../schemas/index.ts";
import { likelyCause, type AlertRow } from "../../queries/alerts-query.ts";
import { pct, when } from "../format.ts";
import { Csrf, Money } from "../layout.tsx";

export interface AlertsForm {
  state: string;
  severity: string;
  type: string;
}

export function AlertsPage(p: {
  form: AlertsForm;
  alerts: AlertRow[];
  silenced: Map<string, string>;
  admin: boolean;
  csrf: string;
  path: string;
}) {
  const { form } = p;
  return (
    <>
      <form method="get" action="/alerts" class="filters">
        <label>
          state
          <select name="state">
            {["all", "firing", "resolved"].map((s) => (
              <option value={s} selected={form.state === s}>
                {s}
              </option>
            ))}
          </select>
        </label>
        <label>
          severity
          <select name="severity">
            <option value="">any</option>
            {alertSeverities.map((s) => (
              <option value={s} selected={form.severity === s}>
                {s}
              </option>
            ))}
          </select>
        </label>
        <label>
          type
          <select name="type">
            <option value="">any</option>
            {alertTypes.map((t) => (
              <option value={t} selected={form.type === t}>
                {t}
              </option>
            ))}
          </select>
        </label>
        <button type="submit">Filter</button>
      </form>
      {p.alerts.length === 0 ? <p class="empty">No alerts match.</p> : ""}
      <ul class="alerts" id="alerts">
        {p.alerts.map((a) => {
          const cause = likelyCause(a);
          const silence = p.silenced.get(a.fingerprint);
          return (
            <li class={`alert ${a.status} sev-${a.severity}`} data-alert={a.id} data-fingerprint={a.fingerprint}>
              <div class="alert-head">
                <span class={`badge ${a.status}`}>{a.status}</span>
                <span class={`badge sev-${a.severity}`}>{a.severity}</span>
                <strong>{a.type}</strong>
                <span class="scope">
                  {a.tenant} · {a.scope}{" "}
                  {Object.entries(a.scope_key)
                    .map(([k, v]) => `${k}=${v}`)
                    .join(", ")}
                </span>
                <time>{when(a.detected_at)}</time>
              </div>
              <p>{a.message}</p>
              <p class="sub">
                observed {a.observed} · expected {a.expected}
                {a.multiplier !== null ? ` · ×${a.multiplier.toFixed(2)}` : ""} · window {when(a.window_start)} – {when(a.window_end)}
              </p>
              {cause ? (
                <p class="cause">
                  Likely cause: {cause.dimension} <strong>{cause.key}</strong>, {pct(cause.share)} of the cost (
                  <Money value={cause.cost_usd} />)
                </p>
              ) : (
                ""
              )}
              {Object.entries(a.evidence).some(([, l]) => Array.isArray(l) && l.length) ? (
                <details>
                  <summary>Evidence</summary>
                  <div class="evidence">
                    {Object.entries(a.evidence)
                      .filter(([, l]) => Array.isArray(l) && l.length)
                      .map(([dim, list]) => (
                        <table>
                          <caption>{dim.replace("by_", "by ")}</caption>
                          <tbody>
                            {list.slice(0, 10).map((c) => (
                              <tr>
                                <td>{c.key}</td>
                                <td class="num">
                                  <Money value={c.cost_usd} />
                                </td>
                                <td class="num">{pct(c.share)}</td>
                              </tr>
                            ))}
                          </tbody>
                        </table>
                      ))}
                  </div>
                </details>
              ) : (
                ""
              )}
              {silence ? (
                <p class="silenced">Silenced until {when(silence)}</p>
              ) : p.admin ? (
                <form method="post" action="/alerts/silence" class="inline">
                  <Csrf token={p.csrf} />
                  <input type="hidden" name="fingerprint" value={a.fingerprint} />
                  <input type="hidden" name="tenant" value={a.tenant} />
                  <input type="hidden" name="next" value={p.path} />
                  <select name="duration" aria-label="silence for">
                    <option value="1h">1 hour</option>
                    <option value="4h" selected>
                      4 hours
                    </option>
                    <option value="1d">1 day</option>
                  </select>
                  <button type="submit" class="small" data-action="silence">
                    Silence
                  </button>
                </form>
              ) : (
                ""
              )}
            </li>
          );
        })}
      </ul>
    </>
  );
}
