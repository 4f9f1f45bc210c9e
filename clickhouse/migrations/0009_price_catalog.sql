-- The versioned price catalog, re-pricing and its audit (docs/pricing.md).
-- Additive only: new tables, and one column with a default on the ledger.

-- Every price anyone set or imported, append-only. Each `prices set` or
-- `prices import` is one new version; the catalog at version N is, for each
-- (layer, provider, model, tenant, effective_from), the row of the highest
-- version ≤ N. The bundled genai-prices snapshot and the shipped overlay are
-- the layers below it, named by their own versions.
CREATE TABLE IF NOT EXISTS costline.price_catalog
(
    version         UInt64,
    layer           LowCardinality(String),
    provider        String,
    model           String,
    tenant          String,
    effective_from  DateTime64(3, 'UTC'),
    effective_to    Nullable(DateTime64(3, 'UTC')),
    prices          String,
    retired         Bool DEFAULT false,
    source          String,
    note            String,
    created_at      DateTime64(3, 'UTC') DEFAULT now64(3),
    created_by      String
)
ENGINE = MergeTree
-- ORDER BY: versions are read in order; within one, a model's rows are together.
ORDER BY (version, provider, model, tenant, effective_from)
SETTINGS non_replicated_deduplication_window = 1000;

-- One row per re-pricing run that changed anything: who, why, the totals
-- before and after, and the catalog versions involved.
CREATE TABLE IF NOT EXISTS costline.reprice_runs
(
    run_id            String,
    started_at        DateTime64(3, 'UTC'),
    actor             String,
    reason            String,
    range_from        DateTime64(3, 'UTC'),
    range_to          DateTime64(3, 'UTC'),
    tenant            String,
    model             String,
    events            UInt64,
    changed_events    UInt64,
    old_total_usd     Decimal(38, 12),
    new_total_usd     Decimal(38, 12),
    old_catalog_versions Array(String),
    new_catalog_version String
)
ENGINE = MergeTree
-- ORDER BY: runs are listed newest last by time.
ORDER BY (started_at, run_id)
SETTINGS non_replicated_deduplication_window = 1000;

-- Each event a run changed: the amounts, so a correction can be traced and audited.
CREATE TABLE IF NOT EXISTS costline.reprice_corrections
(
    run_id          String,
    tenant          String,
    source          String,
    event_id        String,
    time            DateTime64(3, 'UTC'),
    old_cost_usd    Nullable(Decimal(38, 12)),
    new_cost_usd    Nullable(Decimal(38, 12)),
    delta_usd       Decimal(38, 12),
    old_catalog_version String,
    new_catalog_version String
)
ENGINE = MergeTree
-- ORDER BY: an event's corrections are looked up by tenant and event.
ORDER BY (tenant, event_id, run_id)
SETTINGS non_replicated_deduplication_window = 1000;

ALTER TABLE costline.ledger ADD COLUMN IF NOT EXISTS catalog_version LowCardinality(String) DEFAULT '';
