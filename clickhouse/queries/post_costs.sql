-- A post's cost, broken down by kind and model, from the per-post rollup.
-- Grafana: set {tenant} and {post_id} as dashboard variables.
SELECT
    kind,
    provider,
    model,
    toString(sum(cost_usd)) AS cost_usd,
    sum(events) AS events,
    sum(unpriced_events) AS unpriced_events,
    sum(input_tokens) AS input_tokens,
    sum(output_tokens) AS output_tokens,
    toString(min(first_time)) AS first_time,
    toString(max(last_time)) AS last_time
FROM costline.ledger_post AS p
WHERE tenant = {tenant:String} AND post_id = {post_id:String}
GROUP BY kind, provider, model
-- ORDER BY: dearest first, then names for a stable order.
ORDER BY sum(p.cost_usd) DESC, kind, provider, model
