-- The notifier's delivery log: one row per attempt to deliver one alert on one
-- channel (result delivered, retried or failed), and one row per alert a
-- channel did not get (result suppressed: silenced, inhibited, within the
-- repeat interval, a resolve of an alert the channel was never told about).
-- A notification carrying several alerts of a group writes one row per alert.
-- Exactly-once bookkeeping lives in the costline-notify KV bucket; this table
-- is the audit trail and the source of delivery dashboards.
CREATE TABLE IF NOT EXISTS costline.notification_log
(
    attempted_at    DateTime64(3, 'UTC'),
    notification_id String,
    alert_id        String,
    fingerprint     String,
    tenant          String,
    type            LowCardinality(String),
    severity        LowCardinality(String),
    status          LowCardinality(String),
    channel         LowCardinality(String),
    channel_type    LowCardinality(String),
    attempt         UInt16,
    result          LowCardinality(String),
    reason          String,
    http_status     Nullable(UInt16),
    latency_ms      Nullable(UInt32)
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(attempted_at)
-- ORDER BY: a tenant's deliveries in time order; one alert's attempts on a channel sit together.
ORDER BY (tenant, attempted_at, alert_id, channel)
TTL toDateTime(attempted_at) + INTERVAL 400 DAY
SETTINGS non_replicated_deduplication_window = 1000;
