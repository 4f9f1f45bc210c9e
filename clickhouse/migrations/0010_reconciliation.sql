-- Reconciliation of the ledger with a provider's bill (docs/pricing.md): one
-- row per imported file × day × model, the billed and the ledger amounts and
-- their drift. Additive: a new table.
CREATE TABLE IF NOT EXISTS costline.reconciliation
(
    run_id        String,
    imported_at   DateTime64(3, 'UTC') DEFAULT now64(3),
    file_format   LowCardinality(String),
    provider      LowCardinality(String),
    tenant        String,
    day           Date,
    model         String,
    bill_models   Array(String),
    projects      Array(String),
    billed_usd    Decimal(38, 12),
    ledger_usd    Decimal(38, 12),
    diff_usd      Decimal(38, 12),
    drift         Nullable(Float64),
    threshold     Float64,
    alerted       Bool
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(day)
-- ORDER BY: a provider's days in order, then the model; the run last.
ORDER BY (provider, day, model, run_id)
SETTINGS non_replicated_deduplication_window = 1000;
