-- Hourly rollups by user and by post: the console's explorer and /v1/costs
-- grouped or filtered by user_id or post_id read these instead of the ledger,
-- whose sort order (tenant, post_id, …) cannot prune a time range. Like the
-- rollups of 0004 they are fed on insert into the ledger and kept exact the
-- same way (duplicates stopped before the insert; the rollup repair completes
-- groups a crash cut short).
--
-- Each table is filled from the rows already in the ledger before its view is
-- created. The fill inserts one rollup row per ledger row (the engine sums
-- them as it merges; every reader sums), so it needs no memory for groups;
-- block deduplication is off for it (two equal blocks are two sets of rows).
-- A row a second writer inserts between the fill and the view's creation is
-- missing from the rollup until the next start's rollup repair (which looks
-- back over the last five minutes of ingestion) puts it in.

CREATE TABLE IF NOT EXISTS costline.ledger_hour_user
(
    hour            DateTime('UTC'),
    tenant          String,
    user_id         String,
    persona_id      String,
    kind            LowCardinality(String),
    provider        LowCardinality(String),
    model           LowCardinality(String),
    feature         LowCardinality(String),
    events          UInt64,
    unpriced_events UInt64,
    cost_usd        Decimal(38, 12),
    revenue_usd     Decimal(38, 12),
    input_tokens    UInt64,
    output_tokens   UInt64
)
ENGINE = SummingMergeTree
PARTITION BY toYYYYMM(hour)
-- ORDER BY: tenant, then time for range scans, then the user and the other grouping keys.
ORDER BY (tenant, hour, user_id, persona_id, kind, provider, model, feature)
SETTINGS non_replicated_deduplication_window = 1000;

INSERT INTO costline.ledger_hour_user
    (hour, tenant, user_id, persona_id, kind, provider, model, feature,
     events, unpriced_events, cost_usd, revenue_usd, input_tokens, output_tokens)
SELECT
    toStartOfHour(time), tenant, user_id, persona_id, kind, provider, model, feature,
    1, toUInt64(NOT priced), ifNull(cost_usd, toDecimal128(0, 12)), revenue_usd, input_tokens, output_tokens
FROM costline.ledger FINAL
SETTINGS insert_deduplicate = 0;

CREATE MATERIALIZED VIEW IF NOT EXISTS costline.ledger_hour_user_mv TO costline.ledger_hour_user AS
SELECT
    toStartOfHour(time) AS hour, tenant, user_id, persona_id, kind, provider, model, feature,
    count() AS events,
    countIf(NOT priced) AS unpriced_events,
    sum(ifNull(cost_usd, toDecimal128(0, 12))) AS cost_usd,
    sum(revenue_usd) AS revenue_usd,
    sum(input_tokens) AS input_tokens,
    sum(output_tokens) AS output_tokens
FROM costline.ledger
GROUP BY hour, tenant, user_id, persona_id, kind, provider, model, feature;

CREATE TABLE IF NOT EXISTS costline.ledger_hour_post
(
    hour            DateTime('UTC'),
    tenant          String,
    post_id         String,
    persona_id      String,
    kind            LowCardinality(String),
    provider        LowCardinality(String),
    model           LowCardinality(String),
    feature         LowCardinality(String),
    events          UInt64,
    unpriced_events UInt64,
    cost_usd        Decimal(38, 12),
    revenue_usd     Decimal(38, 12),
    input_tokens    UInt64,
    output_tokens   UInt64
)
ENGINE = SummingMergeTree
PARTITION BY toYYYYMM(hour)
-- ORDER BY: tenant, then time for range scans, then the post and the other grouping keys.
ORDER BY (tenant, hour, post_id, persona_id, kind, provider, model, feature)
SETTINGS non_replicated_deduplication_window = 1000;

INSERT INTO costline.ledger_hour_post
    (hour, tenant, post_id, persona_id, kind, provider, model, feature,
     events, unpriced_events, cost_usd, revenue_usd, input_tokens, output_tokens)
SELECT
    toStartOfHour(time), tenant, post_id, persona_id, kind, provider, model, feature,
    1, toUInt64(NOT priced), ifNull(cost_usd, toDecimal128(0, 12)), revenue_usd, input_tokens, output_tokens
FROM costline.ledger FINAL
SETTINGS insert_deduplicate = 0;

CREATE MATERIALIZED VIEW IF NOT EXISTS costline.ledger_hour_post_mv TO costline.ledger_hour_post AS
SELECT
    toStartOfHour(time) AS hour, tenant, post_id, persona_id, kind, provider, model, feature,
    count() AS events,
    countIf(NOT priced) AS unpriced_events,
    sum(ifNull(cost_usd, toDecimal128(0, 12))) AS cost_usd,
    sum(revenue_usd) AS revenue_usd,
    sum(input_tokens) AS input_tokens,
    sum(output_tokens) AS output_tokens
FROM costline.ledger
GROUP BY hour, tenant, post_id, persona_id, kind, provider, model, feature;
