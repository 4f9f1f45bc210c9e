-- A tenant's spend since a period started, from the hourly rollup.
SELECT toString(sum(cost_usd)) AS spend
FROM costline.ledger_hour
WHERE tenant = {tenant:String} AND hour >= {from:DateTime('UTC')}
