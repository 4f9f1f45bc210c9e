// Explorer: a time range, a granularity and a group-by (persona, feature,
// model, user, post) over GET /v1/costs's query builder; a stacked time chart
// (drawn by console.js with uPlot from the data-chart attribute), a table of
// the groups, and the same rows as CSV.
import { Decimal } from "../../pricing/decimal.ts";
import type { ExplorerPoint, ExplorerResult } from "../../queries/explorer-query.ts";
import { count, pct, utcFromInput } from "../format.ts";
import { Money } from "../layout.tsx";

export const explorerGroups = [
  ["persona_id", "persona"],
  ["feature", "feature"],
  ["model", "model"],
  ["user_id", "user"],
  ["post_id", "post"],
  ["", "nothing"],
] as const;
export const explorerRanges = [
  ["1h", "last hour", 3_600_000],
  ["24h", "last 24 hours", 86_400_000],
  ["7d", "last 7 days", 7 * 86_400_000],
  ["30d", "last 30 days", 30 * 86_400_000],
  ["90d", "last 90 days", 90 * 86_400_000],
] as const;

export interface ExplorerForm {
  range: string;
  from: string;
  to: string;
  granularity: string;
  group_by: string;
  filter_key: string;
  filter_value: string;
}

/** Groups charted as their own series; the rest stack as "other". */
export const MAX_SERIES = 8;

const STEP_S: Record<string, number> = { minute: 60, hour: 3600, day: 86_400 };

/** Every bucket of the range at a fixed-step granularity (so empty ones chart as zero), else the buckets the points have. */
function allBuckets(points: ExplorerPoint[], range?: { from: string; to: string; granularity: string }): string[] {
  const seen = [...new Set(points.map((r) => r.bucket))].sort();
  const step = range ? STEP_S[range.granularity] : undefined;
  if (!range || !step) return seen;
  const from = Math.floor(Date.parse(utcFromInput(range.from)) / 1000 / step) * step;
  const to = Date.parse(utcFromInput(range.to)) / 1000;
  if (!Number.isFinite(from) || !Number.isFinite(to) || (to - from) / step > 2000) return seen;
  const out = new Set(seen);
  for (let t = from; t < to; t += step) out.add(new Date(t * 1000).toISOString().slice(0, 19).replace("T", " "));
  return [...out].sort();
}

/**
 * The chart's data: one x per bucket (seconds), one stacked series per charted
 * group in the order given (largest first), and "other" for the points the
 * query folded together.
 */
export function chartData(points: ExplorerPoint[], charted: string[], range?: { from: string; to: string; granularity: string }) {
  const buckets = allBuckets(points, range);
  const hasOther = points.some((p) => p.other);
  const labels = hasOther ? [...charted, "other"] : charted;
  const index = new Map(buckets.map((b, i) => [b, i]));
  const series = labels.map(() => new Array<number>(buckets.length).fill(0));
  for (const p of points) {
    const s = p.other ? labels.length - 1 : charted.indexOf(p.group);
    if (s < 0) continue;
    series[s]![index.get(p.bucket)!]! += Number(p.cost_usd);
  }
  return {
    x: buckets.map((b) => Date.parse(`${b.replace(" ", "T")}Z`) / 1000),
    labels: labels.map((l, i) => (hasOther && i === labels.length - 1 ? l : l || "(none)")),
    series,
  };
}

export function ExplorerPage(p: { form: ExplorerForm; result: ExplorerResult; csvHref: string; ms: number }) {
  const { form, result } = p;
  const total = new Decimal(result.total.cost_usd);
  const charted = result.groups.slice(0, MAX_SERIES).map((g) => g.group);
  return (
    <>
      <form method="get" action="/explorer" class="filters" id="explorer-form">
        <label>
          range
          <select name="range">
            {explorerRanges.map(([v, label]) => (
              <option value={v} selected={form.range === v}>
                {label}
              </option>
            ))}
            <option value="custom" selected={form.range === "custom"}>
              from – to
            </option>
          </select>
        </label>
        <label>
          from (UTC)
          <input type="datetime-local" name="from" value={form.from} />
        </label>
        <label>
          to (UTC)
          <input type="datetime-local" name="to" value={form.to} />
        </label>
        <label>
          granularity
          <select name="granularity">
            {["minute", "hour", "day", "week", "month"].map((g) => (
              <option value={g} selected={form.granularity === g}>
                {g}
              </option>
            ))}
          </select>
        </label>
        <label>
          group by
          <select name="group_by">
            {explorerGroups.map(([v, label]) => (
              <option value={v} selected={form.group_by === v}>
                {label}
              </option>
            ))}
          </select>
        </label>
        <label>
          only where
          <select name="filter_key">
            <option value="" selected={form.filter_key === ""}>
              (no filter)
            </option>
            {["persona_id", "feature", "model", "user_id", "post_id", "provider", "kind", "operation"].map((k) => (
              <option value={k} selected={form.filter_key === k}>
                {k}
              </option>
            ))}
          </select>
        </label>
        <label>
          is
          <input type="text" name="filter_value" value={form.filter_value} maxlength={256} />
        </label>
        <button type="submit">Show</button>
        <a class="button" href={p.csvHref} download>
          CSV
        </a>
      </form>
      <div
        class="chart"
        id="explorer-chart"
        data-chart="stacked"
        data-series={JSON.stringify(chartData(result.series, charted, form))}
        role="img"
        aria-label="cost per time bucket, stacked by group"
      ></div>
      <p class="hint">
        {count(result.groupCount)} {result.groupCount === 1 ? "group" : "groups"}
        {result.groupCount > result.groups.length ? `, the largest ${count(result.groups.length)} listed` : ""} ·{" "}
        {count(result.total.events)} events · total <Money value={total} /> · from {result.source} in {p.ms} ms
      </p>
      <div class="scroll">
        <table id="explorer-table">
          <thead>
            <tr>
              <th>{explorerGroups.find(([v]) => v === form.group_by)?.[1] ?? "group"}</th>
              <th class="num">events</th>
              <th class="num">cost</th>
              <th class="num">share</th>
            </tr>
          </thead>
          <tbody>
            {result.groups.length === 0 ? (
              <tr>
                <td colspan={4} class="empty">
                  No cost in this range.
                </td>
              </tr>
            ) : (
              result.groups.map(({ group: g, events, cost_usd }) => (
                <tr data-group={g}>
                  <td>
                    {!form.group_by ? (
                      "all"
                    ) : form.group_by === "post_id" && g ? (
                      <a href={`/posts?id=${encodeURIComponent(g)}`}>{g}</a>
                    ) : (
                      g || "(none)"
                    )}
                  </td>
                  <td class="num">{count(events)}</td>
                  <td class="num">
                    <Money value={cost_usd} />
                  </td>
                  <td class="num">{total.isZero() ? "—" : pct(new Decimal(cost_usd).dividedBy(total).toNumber())}</td>
                </tr>
              ))
            )}
          </tbody>
        </table>
      </div>
    </>
  );
}
