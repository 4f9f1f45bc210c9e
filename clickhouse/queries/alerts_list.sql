-- Alerts for GET /v1/alerts, `costline alerts list` and the console: the
-- latest state of each alert id (FINAL collapses its state changes), filtered
-- by tenant, status, severity, type, scope and detection time. An empty
-- filter parameter (or an empty array) matches every value. Columns are
-- qualified (a.) where the text aliases below would shadow them.
SELECT
    id, fingerprint, type, severity, status, tenant, scope, scope_key, observed, expected,
    multiplier, score,
    toString(a.window_start) AS window_start, toString(a.window_end) AS window_end,
    toString(a.first_seen) AS first_seen, toString(a.detected_at) AS detected_at,
    message, evidence
FROM costline.alerts AS a FINAL
WHERE ({tenant:String} = '' OR tenant = {tenant:String})
  AND ({status:String} = '' OR status = {status:String})
  AND (empty({severities:Array(String)}) OR has({severities:Array(String)}, severity))
  AND (empty({types:Array(String)}) OR has({types:Array(String)}, type))
  AND ({scope:String} = '' OR scope = {scope:String})
  AND a.detected_at >= {from:DateTime64(3, 'UTC')}
  AND a.detected_at < {to:DateTime64(3, 'UTC')}
-- ORDER BY: newest detection first, as an on-call reads; the id keeps pages stable.
ORDER BY a.detected_at DESC, id
LIMIT {limit:UInt32} OFFSET {offset:UInt32}
