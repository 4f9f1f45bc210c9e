-- Where the allocator resumes after a start: the oldest shared cost not yet allocated.
SELECT toString(ifNull(min(l.ingested_at), now64(3))) AS since
FROM costline.ledger AS l
WHERE has({shared_kinds:Array(String)}, l.kind) AND l.post_id = '' AND l.priced
  AND (l.source, l.event_id) NOT IN (SELECT source, source_event_id FROM costline.cost_allocations)
