-- The console overview's all-time ledger totals (the figures `costline
-- totals` prints) from the hourly rollup instead of the ledger with FINAL:
-- the rollup holds one count per unique event, as every report relies on
-- (duplicates are stopped before the ledger insert that feeds it, and the
-- rollup repair completes an insert a crash cut short), and summing it
-- stays fast on a large ledger where FINAL does not (docs/console.md has the
-- figures). An empty tenant means every tenant.
SELECT
    sum(events) AS events,
    toString(sum(cost_usd)) AS cost_usd,
    sum(unpriced_events) AS unpriced_events
FROM costline.ledger_hour
WHERE ({tenant:String} = '' OR tenant = {tenant:String})
