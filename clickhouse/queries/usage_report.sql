-- Usage by tenant, provider, model, user and day (UTC) from the daily rollup.
SELECT
    toString(day) AS day, tenant, provider, model, user_id,
    sum(llm_requests) AS requests,
    sum(input_tokens) AS input_tokens,
    sum(output_tokens) AS output_tokens,
    toString(sum(cost_usd)) AS cost_usd
FROM costline.ledger_day_user AS d
WHERE ({tenant:String} = '' OR tenant = {tenant:String}) AND d.day >= {from:Date} AND d.day < {to:Date}
GROUP BY day, tenant, provider, model, user_id
-- ORDER BY: day, then dearest first within the day; the names break ties.
ORDER BY day, sum(d.cost_usd) DESC, tenant, provider, model, user_id
