// Pipeline: each stage's consumer lag, the dead-letter queue by stage and
// reason, the ledger's freshness, and the stack's health checks. The body
// is a fragment that htmx fetches again every few seconds.
import type { HealthReport } from "../../health/health-status.ts";
import type { PipelineState } from "../console-data.ts";
import { count, when } from "../format.ts";

export function PipelineFragment(p: { state: PipelineState; health: HealthReport; pollMs: number; tenant: string | undefined }) {
  const { state } = p;
  const age = state.freshness.newest_minute
    ? Math.max(0, Math.round((Date.now() - Date.parse(state.freshness.newest_minute)) / 1000))
    : undefined;
  return (
    <div id="pipeline" hx-get="/fragments/pipeline" hx-trigger={`every ${Math.round(p.pollMs / 1000)}s`} hx-swap="outerHTML">
      <section class="cards">
        <div class="card">
          <h2>Health</h2>
          <p class={`big status-${p.health.status}`}>{p.health.status}</p>
        </div>
        <div class="card">
          <h2>Newest ledger minute</h2>
          <p class="big">{state.freshness.newest_minute ? when(state.freshness.newest_minute) : "—"}</p>
          <p class="sub">
            {age === undefined ? "no events in the last day" : `${count(age)} s ago · ${count(state.freshness.events_5m)} events in 5 min`}
          </p>
        </div>
        <div class="card">
          <h2>Dead letters{p.tenant ? ` (${p.tenant})` : ""}</h2>
          <p class="big" id="dlq-total">
            {state.dlq ? count(state.dlq.records) : "—"}
          </p>
          <p class="sub">{state.dlqError ?? (state.dlq?.newest ? `newest ${when(state.dlq.newest)}` : "none")}</p>
        </div>
      </section>
      <section class="two">
        <div>
          <h2>Consumer lag</h2>
          <table id="consumers">
            <thead>
              <tr>
                <th>stage</th>
                <th>stream</th>
                <th class="num">waiting</th>
                <th class="num">in flight</th>
                <th class="num">redelivered</th>
              </tr>
            </thead>
            <tbody>
              {state.consumers.map((c) => (
                <tr data-stage={c.stage}>
                  <td>{c.stage}</td>
                  <td>{c.stream}</td>
                  <td class="num">{c.error ? <span class="error-text">{c.error}</span> : count(c.pending)}</td>
                  <td class="num">{count(c.ack_pending)}</td>
                  <td class="num">{count(c.redelivered)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
        <div>
          <h2>Dead letters by reason</h2>
          <table id="dlq">
            <thead>
              <tr>
                <th>stage</th>
                <th>reason</th>
                <th class="num">records</th>
              </tr>
            </thead>
            <tbody>
              {!state.dlq || state.dlq.records === 0 ? (
                <tr>
                  <td colspan={3} class="empty">
                    The dead-letter queue is empty.
                  </td>
                </tr>
              ) : (
                Object.entries(state.dlq.by_stage).flatMap(([stage, reasons]) =>
                  Object.entries(reasons).map(([reason, n]) => (
                    <tr>
                      <td>{stage}</td>
                      <td>{reason}</td>
                      <td class="num">{count(n)}</td>
                    </tr>
                  )),
                )
              )}
            </tbody>
          </table>
        </div>
      </section>
      <section>
        <h2>Checks</h2>
        <table id="checks">
          <tbody>
            {p.health.checks.map((c) => (
              <tr>
                <td>{c.name}</td>
                <td>
                  <span class={`badge status-${c.status}`}>{c.status}</span>
                </td>
                <td>{c.detail}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>
    </div>
  );
}
