-- How current the ledger is: the newest event time and when the last minute
-- bucket was written to, from the per-minute rollup.
SELECT toString(max(minute)) AS newest_minute, sumIf(events, minute >= now() - INTERVAL 5 MINUTE) AS events_5m
FROM costline.ledger_minute
WHERE minute >= now() - INTERVAL 1 DAY
