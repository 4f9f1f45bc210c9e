// Post: what one post cost — total, direct and allocated, by kind and model —
// and its audit trail: every ledger row with the price source that priced it,
// and every shared cost allocated to it, each with its exact amount.
import type { PostCosts } from "../../api/routes-posts.ts";
import { count, pct, when } from "../format.ts";
import { Money } from "../layout.tsx";
import { ScrollTable } from "../scroll-table.tsx";

export interface PostAudit {
  rows: Record<string, unknown>[];
  allocated: Record<string, unknown>[];
  limit: number;
}

export function PostLookup(p: { id: string }) {
  return (
    <form method="get" action="/posts" class="filters">
      <label>
        post id
        <input type="text" name="id" value={p.id} required maxlength={256} />
      </label>
      <button type="submit">Open</button>
    </form>
  );
}

export function PostPage(p: { costs: PostCosts; audit: PostAudit }) {
  const { costs, audit } = p;
  const truncated = audit.rows.length >= audit.limit || audit.allocated.length >= audit.limit;
  return (
    <>
      <PostLookup id={costs.post_id} />
      <section class="cards">
        <div class="card">
          <h2>Total</h2>
          <p class="big" id="post-total">
            <Money value={costs.total_usd} />
          </p>
          <p class="sub">
            {count(costs.events)} events · {count(costs.unpriced_events)} unpriced
          </p>
        </div>
        <div class="card">
          <h2>Direct</h2>
          <p class="big">
            <Money value={costs.direct_usd} />
          </p>
          <p class="sub">{pct(costs.coverage.direct)} of the total</p>
        </div>
        <div class="card">
          <h2>Allocated</h2>
          <p class="big">
            <Money value={costs.allocated_usd} />
          </p>
          <p class="sub">{pct(costs.coverage.allocated)} of the total</p>
        </div>
      </section>
      <section class="two">
        <div>
          <h2>By kind</h2>
          <table>
            <tbody>
              {Object.entries(costs.by_kind).map(([k, v]) => (
                <tr>
                  <td>{k}</td>
                  <td class="num">
                    <Money value={v} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
        <div>
          <h2>By model</h2>
          <table>
            <tbody>
              {costs.by_model.map((m) => (
                <tr>
                  <td>
                    {m.provider}/{m.model}
                  </td>
                  <td class="num">{count(m.events)}</td>
                  <td class="num">
                    <Money value={m.cost_usd} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </section>
      <section>
        <h2>Audit trail: ledger rows</h2>
        {truncated ? (
          <p class="hint">
            The first {audit.limit} rows of each list; GET /v1/posts/{"{id}"}/costs pages through the rest.
          </p>
        ) : (
          ""
        )}
        <ScrollTable
          id="audit"
          columns={["time", "kind", "model", "operation", "persona", "user", "price source", { label: "cost", num: true }]}
          rows={audit.rows}
          row={(r) => (
            <tr data-event={String(r.event_id)}>
              <td>{when(String(r.time))}</td>
              <td>{String(r.kind)}</td>
              <td>{r.model ? `${String(r.provider)}/${String(r.model)}` : ""}</td>
              <td>{String(r.operation ?? "")}</td>
              <td>{String(r.persona_id ?? "")}</td>
              <td>{String(r.user_id ?? "")}</td>
              <td>
                {String(r.price_source ?? "")} {r.price_version ? String(r.price_version) : ""}
              </td>
              <td class="num">
                {r.cost_usd === null || r.cost_usd === undefined ? (
                  <span class="unpriced">unpriced</span>
                ) : (
                  <Money value={String(r.cost_usd)} />
                )}
              </td>
            </tr>
          )}
        />
      </section>
      <section>
        <h2>Audit trail: allocated shared costs</h2>
        <ScrollTable
          id="allocation-audit"
          columns={["window", "kind", "shared event", "driver", { label: "share", num: true }, { label: "amount", num: true }]}
          rows={audit.allocated}
          empty="No shared cost allocated to this post."
          row={(a) => (
            <tr>
              <td>{when(String(a.window_start))}</td>
              <td>{String(a.kind)}</td>
              <td>
                {String(a.source)} {String(a.source_event_id)}
              </td>
              <td>{String(a.driver)}</td>
              <td class="num">{pct(Number(a.share))}</td>
              <td class="num">
                <Money value={String(a.amount_usd)} />
              </td>
            </tr>
          )}
        />
      </section>
    </>
  );
}
