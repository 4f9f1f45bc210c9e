-- The users who cost the most over a period, from the daily rollup.
SELECT tenant, user_id, toString(sum(cost_usd)) AS cost_usd, sum(llm_requests) AS requests
FROM costline.ledger_day_user AS d
WHERE ({tenant:String} = '' OR tenant = {tenant:String}) AND d.day >= {from:Date} AND d.day < {to:Date} AND user_id != ''
-- A user id is the tenant's own: the same id in two tenants is two users.
GROUP BY tenant, user_id
-- ORDER BY: dearest first; the ids break ties.
ORDER BY sum(d.cost_usd) DESC, tenant, user_id
LIMIT {limit:UInt32}
