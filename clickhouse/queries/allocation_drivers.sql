-- The posts active in allocation windows and their drivers (LLM tokens, LLM
-- cost, request count), for many windows in one query: the windows are named
-- as tenant NUL window start (the text allocation_candidates gives), inside
-- the time range they span.
SELECT
    tenant,
    toString(toStartOfInterval(time, toIntervalSecond({window_s:UInt32}))) AS window_start,
    post_id,
    any(persona_id) AS persona_id,
    sum(input_tokens + output_tokens) AS llm_tokens,
    toString(sum(ifNull(cost_usd, toDecimal128(0, 12)))) AS llm_cost,
    count() AS requests
FROM costline.ledger FINAL
WHERE tenant IN {tenants:Array(String)} AND kind = 'llm' AND post_id != ''
  AND time >= {from:DateTime64(3, 'UTC')} AND time < {to:DateTime64(3, 'UTC')}
  AND has({windows:Array(String)}, concat(tenant, '\0', toString(toStartOfInterval(time, toIntervalSecond({window_s:UInt32})))))
GROUP BY tenant, window_start, post_id
-- ORDER BY: by post id within each window, so the split is the same on every run.
ORDER BY tenant, window_start, post_id
