-- Control changes (set and clear, by whom, why), newest first; an empty
-- tenant means every tenant (admins).
SELECT toString(changed_at) AS changed_at, tenant, scope_key, action, state, reason, changed_by, control
FROM costline.control_changes
WHERE ({tenant:String} = '' OR tenant = {tenant:String})
-- ORDER BY: the latest change first, as an audit log reads.
ORDER BY changed_at DESC
LIMIT {limit:UInt32}
