-- How many rows focus_export.sql would return for the same range: an export
-- larger than the configured bound is refused before any row is written.
SELECT uniqExact(tenant, toStartOfHour(time), kind, provider, model, feature, persona_id) AS rows
FROM costline.ledger FINAL
WHERE ({tenant:String} = '' OR tenant = {tenant:String})
  AND time >= {from:DateTime64(3, 'UTC')}
  AND time < {to:DateTime64(3, 'UTC')}
  AND has({focus_kinds:Array(String)}, kind)
