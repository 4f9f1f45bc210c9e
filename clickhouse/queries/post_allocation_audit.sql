-- The shared costs allocated to a post, one row per shared event, for the audit trail.
SELECT source, source_event_id, kind, toString(window_start) AS window_start, driver, share, toString(amount_usd) AS amount_usd
FROM costline.cost_allocations FINAL
WHERE tenant = {tenant:String} AND post_id = {post_id:String}
-- ORDER BY: newest window first, then the event key for a stable order.
ORDER BY window_start DESC, source, source_event_id
LIMIT {limit:UInt32} OFFSET {offset:UInt32}
