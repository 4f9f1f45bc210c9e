-- Exact ledger totals for `costline totals` and GET /v1/totals.
-- FINAL collapses any duplicate row that slipped past the sink, so this is
-- one row per unique event; money is summed as Decimal and returned as text.
SELECT
    count() AS events,
    toString(sum(ifNull(cost_usd, toDecimal128(0, 12)))) AS cost_usd,
    countIf(NOT priced) AS unpriced_events
FROM costline.ledger FINAL
WHERE ({tenant:String} = '' OR tenant = {tenant:String})
  AND time >= {from:DateTime64(3, 'UTC')}
  AND time < {to:DateTime64(3, 'UTC')}
