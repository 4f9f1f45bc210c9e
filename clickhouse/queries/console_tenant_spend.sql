-- The console's overview: each tenant's spend and events today and this
-- month (UTC), from the hourly rollup. An empty tenant means every tenant.
SELECT
    tenant,
    toString(sumIf(cost_usd, hour >= {day_start:DateTime('UTC')})) AS today_usd,
    toString(sum(cost_usd)) AS mtd_usd,
    sumIf(events, hour >= {day_start:DateTime('UTC')}) AS events_today,
    sumIf(unpriced_events, hour >= {day_start:DateTime('UTC')}) AS unpriced_today,
    sum(events) AS events_mtd,
    sum(unpriced_events) AS unpriced_mtd
FROM costline.ledger_hour
WHERE hour >= {month_start:DateTime('UTC')}
  AND ({tenant:String} = '' OR tenant = {tenant:String})
GROUP BY tenant
-- ORDER BY: the biggest spender this month first, then by name for a stable order.
ORDER BY sum(cost_usd) DESC, tenant
LIMIT 1000
