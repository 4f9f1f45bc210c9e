-- Recent history for the detector's baselines: cost per window for each
-- tenant and each tenant × model, from the minute rollup.
SELECT
    tenant, provider, model,
    toString(toStartOfInterval(minute, toIntervalSecond({window_s:UInt32}))) AS window_start,
    toString(sum(cost_usd)) AS cost_usd,
    sum(output_tokens) AS output_tokens,
    sum(events) AS events
FROM costline.ledger_minute
WHERE minute >= now() - toIntervalHour({hours:UInt32}) AND minute < toStartOfInterval(now(), toIntervalSecond({window_s:UInt32}))
GROUP BY tenant, provider, model, window_start
-- ORDER BY: oldest first, the order the baselines learn in.
ORDER BY window_start, tenant, provider, model
