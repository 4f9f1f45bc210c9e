-- The ledger: one row per unique event (source, event_id).
-- Exactly-once is layered (see docs/exactly-once.md): the sink drops duplicates
-- before inserting; ReplacingMergeTree collapses any that still slip through,
-- and `FINAL` reads see one row per key. Inserts carry a deduplication token,
-- which non_replicated_deduplication_window makes effective on a single node.
CREATE TABLE IF NOT EXISTS costline.ledger
(
    event_id          String,
    source            String,
    type              LowCardinality(String),
    kind              LowCardinality(String),
    time              DateTime64(3, 'UTC'),
    ingested_at       DateTime64(3, 'UTC') DEFAULT now64(3),
    tenant            String,
    provider          LowCardinality(String),
    model             LowCardinality(String),
    model_requested   String,
    category          LowCardinality(String),
    post_id           String,
    persona_id        String,
    user_id           String,
    feature           LowCardinality(String),
    operation         LowCardinality(String),
    trace_id          String,
    correlation_id    String,
    request_id        String,
    tags              Map(String, String),
    input_tokens      UInt64,
    output_tokens     UInt64,
    cache_read_tokens UInt64,
    cache_write_tokens UInt64,
    usage             Map(String, Float64),
    batch             Bool,
    latency_ms        Nullable(Float64),
    status            LowCardinality(String),
    cost_usd          Nullable(Decimal(38, 12)),
    revenue_usd       Decimal(38, 12),
    priced            Bool,
    unpriced_reason   String,
    price_source      LowCardinality(String),
    price_version     LowCardinality(String),
    components        String,
    attribution_method LowCardinality(String),
    INDEX idx_event_id event_id TYPE bloom_filter(0.001) GRANULARITY 4
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(time)
-- ORDER BY: tenant first so per-tenant reads prune; post_id next so a post's
-- rows (its audit trail) are one range; (source, event_id) makes the key
-- unique, and the replacing engine collapses rows with equal keys — a
-- duplicate event has the same post, so it has the same key.
ORDER BY (tenant, post_id, source, event_id)
SETTINGS non_replicated_deduplication_window = 1000;

-- Per-minute rollup fed on insert. It is exact because duplicates are stopped
-- before the insert into the ledger (a materialized view fires on every insert).
CREATE TABLE IF NOT EXISTS costline.ledger_minute
(
    minute          DateTime('UTC'),
    tenant          String,
    kind            LowCardinality(String),
    provider        LowCardinality(String),
    model           LowCardinality(String),
    events          UInt64,
    unpriced_events UInt64,
    cost_usd        Decimal(38, 12),
    revenue_usd     Decimal(38, 12),
    input_tokens    UInt64,
    output_tokens   UInt64
)
ENGINE = SummingMergeTree
PARTITION BY toYYYYMM(minute)
-- ORDER BY: every grouping key of the rollup, time first within a tenant.
ORDER BY (tenant, minute, kind, provider, model)
SETTINGS non_replicated_deduplication_window = 1000;

CREATE MATERIALIZED VIEW IF NOT EXISTS costline.ledger_minute_mv TO costline.ledger_minute AS
SELECT
    toStartOfMinute(time) AS minute,
    tenant,
    kind,
    provider,
    model,
    count() AS events,
    countIf(NOT priced) AS unpriced_events,
    sum(ifNull(cost_usd, toDecimal128(0, 12))) AS cost_usd,
    sum(revenue_usd) AS revenue_usd,
    sum(input_tokens) AS input_tokens,
    sum(output_tokens) AS output_tokens
FROM costline.ledger
GROUP BY minute, tenant, kind, provider, model;
