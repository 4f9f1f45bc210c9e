-- The audit trail of a post: its ledger rows with the price source that priced each.
-- The ledger is ordered by (tenant, post_id, …), so this reads one key range.
-- LIMIT 1 BY collapses any duplicate row that slipped past the sink, like
-- FINAL does, but only over this post's rows.
SELECT
    event_id, source, toString(time) AS time, kind, provider, model, operation, persona_id, user_id,
    toString(cost_usd) AS cost_usd, priced, price_source, price_version, components
FROM costline.ledger
WHERE tenant = {tenant:String} AND post_id = {post_id:String}
-- ORDER BY: newest first, the order an auditor reads in; the key makes it stable.
ORDER BY time DESC, source, event_id
LIMIT 1 BY source, event_id
LIMIT {limit:UInt32} OFFSET {offset:UInt32}
