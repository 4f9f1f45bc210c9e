// Controls: the state of every scope with a control (throttled, degraded,
// paused), an admin's override and clear, and the history of changes.
import type { Control } from "../../../schemas/index.ts";
import type { ControlChange } from "../console-data.ts";
import { when } from "../format.ts";
import { Csrf } from "../layout.tsx";
import { ScrollTable } from "../scroll-table.tsx";

const scopeText = (s: Control["scope"]) =>
  [
    s.persona_id && `persona ${s.persona_id}`,
    s.feature && `feature ${s.feature}`,
    s.user_id && `user ${s.user_id}`,
    s.model && `model ${s.model}`,
  ]
    .filter(Boolean)
    .join(", ") || "whole tenant";

function detail(c: Control): string {
  if (c.state === "throttled")
    return [
      c.throttle?.requests_per_minute && `${c.throttle.requests_per_minute} requests/min`,
      c.throttle?.tokens_per_minute && `${c.throttle.tokens_per_minute} tokens/min`,
    ]
      .filter(Boolean)
      .join(", ");
  if (c.state === "degraded")
    return (
      Object.entries(c.model_map ?? {})
        .map(([a, b]) => `${a} → ${b}`)
        .join(", ") || "the built-in downgrade map"
    );
  if (c.state === "open") return c.paused_until ? `paused until ${when(c.paused_until)}` : "paused";
  return "";
}

export function ControlsPage(p: {
  controls: Control[];
  history: ControlChange[];
  admin: boolean;
  csrf: string;
  tenant: string | undefined;
}) {
  return (
    <>
      <ScrollTable
        id="controls"
        columns={["tenant", "scope", "state", "detail", "reason", "set by", "ends", ...(p.admin ? [""] : [])]}
        rows={p.controls}
        empty="Every scope is closed (normal traffic)."
        row={(c) => (
          <tr data-scope={JSON.stringify(c.scope)} data-state={c.state}>
            <td>{c.scope.tenant}</td>
            <td>{scopeText(c.scope)}</td>
            <td>
              <span class={`badge state-${c.state}`}>{c.state === "open" ? "paused" : c.state}</span>
            </td>
            <td>{detail(c)}</td>
            <td>{c.reason}</td>
            <td>
              {c.set_by} {when(c.set_at)}
            </td>
            <td>{c.expires_at ? when(c.expires_at) : ""}</td>
            {p.admin ? (
              <td>
                <form method="post" action="/controls/clear" class="inline">
                  <Csrf token={p.csrf} />
                  <input type="hidden" name="scope" value={JSON.stringify(c.scope)} />
                  <input type="hidden" name="reason" value="cleared in the console" />
                  <button type="submit" class="small">
                    Clear
                  </button>
                </form>
              </td>
            ) : (
              ""
            )}
          </tr>
        )}
      />
      {p.admin ? (
        <section>
          <h2>Override</h2>
          <form method="post" action="/controls" class="grid-form" id="control-form">
            <Csrf token={p.csrf} />
            <label>
              tenant
              <input type="text" name="tenant" value={p.tenant ?? ""} required maxlength={128} />
            </label>
            <label>
              scope
              <select name="dim">
                <option value="">the whole tenant</option>
                <option value="persona_id">persona</option>
                <option value="feature">feature</option>
                <option value="user_id">user</option>
                <option value="model">model</option>
              </select>
            </label>
            <label>
              named
              <input type="text" name="value" maxlength={256} />
            </label>
            <label>
              state
              <select name="state">
                <option value="throttled">throttle</option>
                <option value="degraded">downgrade</option>
                <option value="open">pause</option>
                <option value="closed">normal (closed)</option>
              </select>
            </label>
            <label>
              requests/min (throttle)
              <input type="number" name="rpm" min="1" />
            </label>
            <label>
              model map (downgrade)
              <input type="text" name="map" placeholder="gpt-4o=gpt-4o-mini" />
            </label>
            <label>
              pause for minutes
              <input type="number" name="pause_minutes" min="1" value="60" />
            </label>
            <label>
              override ends in minutes
              <input type="number" name="expires_minutes" min="1" />
            </label>
            <label class="wide">
              reason
              <input type="text" name="reason" required maxlength={500} />
            </label>
            <button type="submit">Apply</button>
          </form>
        </section>
      ) : (
        <p class="hint">Controls are changed with an admin key.</p>
      )}
      <section>
        <h2>History</h2>
        <ScrollTable
          id="control-history"
          columns={["when", "tenant", "scope", "action", "state", "reason", "by"]}
          rows={p.history}
          row={(h) => (
            <tr>
              <td>{when(h.changed_at)}</td>
              <td>{h.tenant}</td>
              <td>{h.scope_key}</td>
              <td>{h.action}</td>
              <td>{h.state}</td>
              <td>{h.reason}</td>
              <td>{h.changed_by}</td>
            </tr>
          )}
        />
      </section>
    </>
  );
}
