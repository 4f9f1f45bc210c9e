-- The posts active in one allocation window and their drivers: LLM tokens,
-- LLM cost and request count.
SELECT
    post_id,
    any(persona_id) AS persona_id,
    sum(input_tokens + output_tokens) AS llm_tokens,
    toString(sum(ifNull(cost_usd, toDecimal128(0, 12)))) AS llm_cost,
    count() AS requests
FROM costline.ledger FINAL
WHERE tenant = {tenant:String} AND kind = 'llm' AND post_id != ''
  AND time >= {from:DateTime64(3, 'UTC')} AND time < {to:DateTime64(3, 'UTC')}
GROUP BY post_id
-- ORDER BY: by post id, so the split is the same on every run.
ORDER BY post_id
