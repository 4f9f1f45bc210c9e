-- How much of a tenant's cost is attributed: directly (events that name a
-- post), by allocation (shared costs split across posts), left in the
-- unallocated bucket, waiting for their window to close, or not at all.
-- {shared_kinds} are the ledger kinds the allocator splits (schemas/event-kinds.ts).
WITH
    ledger_rows AS (
        SELECT source, event_id, kind, post_id, ifNull(cost_usd, toDecimal128(0, 12)) AS cost
        FROM costline.ledger FINAL
        WHERE tenant = {tenant:String} AND time >= {from:DateTime64(3, 'UTC')} AND time < {to:DateTime64(3, 'UTC')}
    ),
    alloc AS (
        SELECT source, source_event_id, sumIf(amount_usd, post_id != '') AS to_posts, sumIf(amount_usd, post_id = '') AS unallocated
        FROM costline.cost_allocations FINAL
        WHERE tenant = {tenant:String}
        GROUP BY source, source_event_id
    )
SELECT
    toString(sum(l.cost)) AS total_usd,
    toString(sumIf(l.cost, l.post_id != '')) AS direct_usd,
    toString(sum(a.to_posts)) AS allocated_usd,
    toString(sum(a.unallocated)) AS unallocated_usd,
    toString(sumIf(l.cost, l.post_id = '' AND has({shared_kinds:Array(String)}, l.kind) AND a.source_event_id = '')) AS pending_usd,
    toString(sumIf(l.cost, l.post_id = '' AND NOT has({shared_kinds:Array(String)}, l.kind))) AS unattributed_usd
FROM ledger_rows AS l
LEFT JOIN alloc AS a ON a.source = l.source AND a.source_event_id = l.event_id
SETTINGS join_use_nulls = 0
