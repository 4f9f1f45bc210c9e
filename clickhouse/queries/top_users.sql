-- The users who cost the most over a period, from the daily rollup.
SELECT user_id, toString(sum(cost_usd)) AS cost_usd, sum(llm_requests) AS requests
FROM costline.ledger_day_user AS d
WHERE ({tenant:String} = '' OR tenant = {tenant:String}) AND d.day >= {from:Date} AND d.day < {to:Date} AND user_id != ''
GROUP BY user_id
-- ORDER BY: dearest first; the id breaks ties.
ORDER BY sum(d.cost_usd) DESC, user_id
LIMIT {limit:UInt32}
