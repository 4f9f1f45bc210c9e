-- Tenants with ledger rows in the last 90 days, for an admin's tenant switch.
SELECT DISTINCT tenant
FROM costline.ledger_hour
WHERE hour >= now() - INTERVAL 90 DAY
-- ORDER BY: alphabetical, as a picker lists them.
ORDER BY tenant
LIMIT 1000
