-- Every change to a control, with who or what made it: the audit trail of
-- throttles, downgrades and pauses.
CREATE TABLE IF NOT EXISTS costline.control_changes
(
    changed_at  DateTime64(3, 'UTC') DEFAULT now64(3),
    tenant      String,
    scope_key   String,
    action      LowCardinality(String),
    state       LowCardinality(String),
    reason      String,
    changed_by  String,
    control     String
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(changed_at)
-- ORDER BY: a tenant's changes in time order.
ORDER BY (tenant, changed_at);
