-- A budget scope's spend per 15-minute bucket, for event times in [from, to),
-- read from the ledger itself: persona, feature and user are not in every
-- rollup. An empty filter parameter matches every value. FINAL so a row the
-- ledger stored twice (before a merge) is counted once.
SELECT
    toString(toStartOfFifteenMinutes(l.time)) AS bucket,
    toString(sum(ifNull(l.cost_usd, toDecimal128(0, 12)))) AS spend
FROM costline.ledger AS l FINAL
WHERE l.tenant = {tenant:String}
  AND l.time >= {from:DateTime64(3, 'UTC')}
  AND l.time < {to:DateTime64(3, 'UTC')}
  AND ({persona_id:String} = '' OR l.persona_id = {persona_id:String})
  AND ({feature:String} = '' OR l.feature = {feature:String})
  AND ({user_id:String} = '' OR l.user_id = {user_id:String})
  AND ({model:String} = '' OR l.model = {model:String})
GROUP BY bucket
-- ORDER BY: oldest bucket first, the order a rolling budget releases spend in.
ORDER BY bucket
