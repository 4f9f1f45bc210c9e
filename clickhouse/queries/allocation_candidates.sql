-- Shared costs (events of the shared kinds, schemas/event-kinds.ts, naming no post) stored since {since}
-- and not yet allocated, with the allocation window each falls in.
SELECT
    l.tenant AS tenant, l.source AS source, l.event_id AS event_id, l.kind AS kind,
    toString(l.cost_usd) AS cost,
    toString(toStartOfInterval(l.time, toIntervalSecond({window_s:UInt32}))) AS window_start,
    toString(l.ingested_at) AS ingested_at
FROM costline.ledger AS l FINAL
WHERE has({shared_kinds:Array(String)}, l.kind) AND l.post_id = '' AND l.priced
  AND l.ingested_at >= {since:DateTime64(3, 'UTC')}
  -- Only the tenants of the partitions this instance holds (pipeline/nats/partition.ts's hash; 1 and [0]: all).
  AND has({owned:Array(UInt32)}, reinterpretAsUInt64(reverse(substring(MD5(l.tenant), 1, 8))) % {partitions:UInt32})
  -- Tenant, source and id: another tenant's allocated event under the same source and id is not this one.
  AND (l.tenant, l.source, l.event_id) NOT IN (
      SELECT tenant, source, source_event_id FROM costline.cost_allocations WHERE allocated_at >= {since:DateTime64(3, 'UTC')}
  )
-- ORDER BY: oldest first, so a pass handles windows in time order.
ORDER BY l.ingested_at
LIMIT 100000
