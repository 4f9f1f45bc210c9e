-- Budget changes, newest first; an empty tenant means every tenant (admins).
SELECT
    toString(b.changed_at) AS changed_at,
    b.tenant,
    b.budget_key,
    b.action,
    b.period,
    toString(b.amount_usd) AS amount_usd,
    b.hard,
    b.changed_by,
    b.budget
FROM costline.budget_changes AS b
WHERE ({tenant:String} = '' OR b.tenant = {tenant:String})
-- ORDER BY: the latest change first, as an audit log reads.
ORDER BY b.changed_at DESC
LIMIT {limit:UInt32}
