-- Per channel in a time range: alert deliveries by result and the delivery
-- latency (alert published → the receiver's 2xx), for a dashboard panel or
-- an alert rule on failing channels.
SELECT
    channel,
    channel_type,
    toUInt32(countIf(result = 'delivered')) AS delivered,
    toUInt32(countIf(result = 'retried')) AS retried,
    toUInt32(countIf(result = 'failed')) AS failed,
    toUInt32(countIf(result = 'suppressed')) AS suppressed,
    quantileExactIf(0.5)(latency_ms, result = 'delivered') AS p50_ms,
    quantileExactIf(0.99)(latency_ms, result = 'delivered') AS p99_ms
FROM costline.notification_log
WHERE attempted_at >= {from:DateTime64(3)}
  AND attempted_at < {to:DateTime64(3)}
GROUP BY channel, channel_type
-- ORDER BY: channels that gave up on deliveries first, then by name.
ORDER BY failed DESC, channel
