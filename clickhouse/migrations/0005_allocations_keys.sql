-- Shared costs (infra and vector-db events that name no post) split across the
-- posts active in the same window, in proportion to the configured driver.
-- One row per (shared event, post); post_id '' is the unallocated bucket, so
-- allocated amounts always add up to the shared event's cost. Stored once when
-- the window closes, never recomputed at query time.
CREATE TABLE IF NOT EXISTS costline.cost_allocations
(
    tenant          String,
    post_id         String,
    persona_id      String,
    source          String,
    source_event_id String,
    kind            LowCardinality(String),
    window_start    DateTime('UTC'),
    driver          LowCardinality(String),
    share           Float64,
    amount_usd      Decimal(38, 12),
    allocated_at    DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(window_start)
-- ORDER BY: a post's allocations are contiguous; (source, source_event_id, post_id) is the unique key.
ORDER BY (tenant, post_id, source, source_event_id)
SETTINGS non_replicated_deduplication_window = 1000;

-- API keys: only a SHA-256 hash of the secret is stored.
CREATE TABLE IF NOT EXISTS costline.api_keys
(
    key_id      String,
    secret_hash String,
    tenant      String,
    role        LowCardinality(String),
    name        String,
    created_at  DateTime64(3, 'UTC') DEFAULT now64(3),
    revoked     Bool DEFAULT false,
    version     UInt64
)
ENGINE = ReplacingMergeTree(version)
-- ORDER BY: looked up by key id; the newest version (a revocation) wins.
ORDER BY key_id;
