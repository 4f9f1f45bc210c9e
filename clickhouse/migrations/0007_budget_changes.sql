-- Budget history: every budget set or deleted, with who made the change and
-- the whole budget as it was. The current budgets live in the costline-budgets
-- KV bucket; their crossings are budget alerts in costline.alerts.
CREATE TABLE IF NOT EXISTS costline.budget_changes
(
    changed_at  DateTime64(3, 'UTC') DEFAULT now64(3),
    tenant      String,
    budget_key  String,
    action      LowCardinality(String),
    period      LowCardinality(String),
    amount_usd  Decimal(38, 12),
    hard        Bool,
    changed_by  String,
    budget      String
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(changed_at)
-- ORDER BY: a tenant's budget changes in time order.
ORDER BY (tenant, changed_at);
