-- Alerts raised by the detector, one row per alert state change.
CREATE TABLE IF NOT EXISTS costline.alerts
(
    id           String,
    fingerprint  String,
    type         LowCardinality(String),
    severity     LowCardinality(String),
    status       LowCardinality(String),
    tenant       String,
    scope        LowCardinality(String),
    scope_key    Map(String, String),
    observed     String,
    expected     String,
    multiplier   Nullable(Float64),
    score        Nullable(Float64),
    window_start DateTime64(3, 'UTC'),
    window_end   DateTime64(3, 'UTC'),
    first_seen   DateTime64(3, 'UTC'),
    detected_at  DateTime64(3, 'UTC'),
    message      String,
    evidence     String
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(detected_at)
-- ORDER BY: one row per alert id within a tenant.
ORDER BY (tenant, id);
