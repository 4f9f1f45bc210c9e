-- A tenant's notification deliveries in a time range, newest first: every
-- attempt (delivered, retried, failed) and every suppression, per alert and
-- channel, with the receiver's status and the latency from the alert's publish.
SELECT
    attempted_at,
    alert_id,
    fingerprint,
    type,
    severity,
    status,
    channel,
    channel_type,
    attempt,
    result,
    reason,
    http_status,
    latency_ms,
    notification_id
FROM costline.notification_log
WHERE tenant = {tenant:String}
  AND attempted_at >= {from:DateTime64(3)}
  AND attempted_at < {to:DateTime64(3)}
-- ORDER BY: newest first; one alert's attempts on one channel next to each other, in attempt order.
ORDER BY attempted_at DESC, alert_id, channel, attempt
LIMIT {limit:UInt32}
