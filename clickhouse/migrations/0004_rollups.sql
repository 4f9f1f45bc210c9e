-- Rollups fed on insert into the ledger. They are exact because the sink stops
-- duplicates before the insert and inserts carry deduplication tokens that
-- also cover the materialized views (docs/exactly-once.md).

-- Hourly, by every low-cardinality attribution key: the API's /v1/costs reads it.
CREATE TABLE IF NOT EXISTS costline.ledger_hour
(
    hour            DateTime('UTC'),
    tenant          String,
    kind            LowCardinality(String),
    provider        LowCardinality(String),
    model           LowCardinality(String),
    persona_id      String,
    feature         LowCardinality(String),
    operation       LowCardinality(String),
    events          UInt64,
    llm_requests    UInt64,
    unpriced_events UInt64,
    cost_usd        Decimal(38, 12),
    revenue_usd     Decimal(38, 12),
    input_tokens    UInt64,
    output_tokens   UInt64
)
ENGINE = SummingMergeTree
PARTITION BY toYYYYMM(hour)
-- ORDER BY: tenant, then time for range scans, then every grouping key.
ORDER BY (tenant, hour, kind, provider, model, persona_id, feature, operation)
SETTINGS non_replicated_deduplication_window = 1000;

CREATE MATERIALIZED VIEW IF NOT EXISTS costline.ledger_hour_mv TO costline.ledger_hour AS
SELECT
    toStartOfHour(time) AS hour, tenant, kind, provider, model, persona_id, feature, operation,
    count() AS events,
    countIf(kind = 'llm') AS llm_requests,
    countIf(NOT priced) AS unpriced_events,
    sum(ifNull(cost_usd, toDecimal128(0, 12))) AS cost_usd,
    sum(revenue_usd) AS revenue_usd,
    sum(input_tokens) AS input_tokens,
    sum(output_tokens) AS output_tokens
FROM costline.ledger
GROUP BY hour, tenant, kind, provider, model, persona_id, feature, operation;

-- Daily by user: the usage report (provider, model, user, day).
CREATE TABLE IF NOT EXISTS costline.ledger_day_user
(
    day             Date,
    tenant          String,
    provider        LowCardinality(String),
    model           LowCardinality(String),
    user_id         String,
    events          UInt64,
    llm_requests    UInt64,
    unpriced_events UInt64,
    cost_usd        Decimal(38, 12),
    input_tokens    UInt64,
    output_tokens   UInt64
)
ENGINE = SummingMergeTree
PARTITION BY toYYYYMM(day)
-- ORDER BY: tenant, then day for range scans, then the report's keys.
ORDER BY (tenant, day, provider, model, user_id)
SETTINGS non_replicated_deduplication_window = 1000;

CREATE MATERIALIZED VIEW IF NOT EXISTS costline.ledger_day_user_mv TO costline.ledger_day_user AS
SELECT
    toDate(time) AS day, tenant, provider, model, user_id,
    count() AS events,
    countIf(kind = 'llm') AS llm_requests,
    countIf(NOT priced) AS unpriced_events,
    sum(ifNull(cost_usd, toDecimal128(0, 12))) AS cost_usd,
    sum(input_tokens) AS input_tokens,
    sum(output_tokens) AS output_tokens
FROM costline.ledger
GROUP BY day, tenant, provider, model, user_id;

-- Per post, all time: a post's total and breakdown without scanning the ledger.
CREATE TABLE IF NOT EXISTS costline.ledger_post
(
    tenant          String,
    post_id         String,
    kind            LowCardinality(String),
    provider        LowCardinality(String),
    model           LowCardinality(String),
    persona_id      String,
    events          SimpleAggregateFunction(sum, UInt64),
    llm_requests    SimpleAggregateFunction(sum, UInt64),
    unpriced_events SimpleAggregateFunction(sum, UInt64),
    cost_usd        SimpleAggregateFunction(sum, Decimal(38, 12)),
    revenue_usd     SimpleAggregateFunction(sum, Decimal(38, 12)),
    input_tokens    SimpleAggregateFunction(sum, UInt64),
    output_tokens   SimpleAggregateFunction(sum, UInt64),
    first_time      SimpleAggregateFunction(min, DateTime64(3, 'UTC')),
    last_time       SimpleAggregateFunction(max, DateTime64(3, 'UTC'))
)
ENGINE = AggregatingMergeTree
-- ORDER BY: a post is looked up by (tenant, post_id); the rest are its breakdown keys.
ORDER BY (tenant, post_id, kind, provider, model, persona_id)
SETTINGS non_replicated_deduplication_window = 1000;

CREATE MATERIALIZED VIEW IF NOT EXISTS costline.ledger_post_mv TO costline.ledger_post AS
SELECT
    tenant, post_id, kind, provider, model, persona_id,
    count() AS events,
    countIf(kind = 'llm') AS llm_requests,
    countIf(NOT priced) AS unpriced_events,
    sum(ifNull(cost_usd, toDecimal128(0, 12))) AS cost_usd,
    sum(revenue_usd) AS revenue_usd,
    sum(input_tokens) AS input_tokens,
    sum(output_tokens) AS output_tokens,
    min(time) AS first_time,
    max(time) AS last_time
FROM costline.ledger
WHERE post_id != ''
GROUP BY tenant, post_id, kind, provider, model, persona_id;
