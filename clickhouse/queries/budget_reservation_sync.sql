-- A hard budget's spend in [from, to) and which of the given settled events
-- the ledger already holds, in one read so the two agree: the reservation
-- counter drops exactly the settled costs this total includes. The filters are
-- budget_spend_buckets' (an empty parameter matches every value); FINAL so a
-- row stored twice before a merge counts once.
SELECT
    toString(sum(ifNull(l.cost_usd, toDecimal128(0, 12)))) AS spend,
    groupUniqArrayIf(l.event_id, has({ids:Array(String)}, l.event_id)) AS seen
FROM costline.ledger AS l FINAL
WHERE l.tenant = {tenant:String}
  AND l.time >= {from:DateTime64(3, 'UTC')}
  AND l.time < {to:DateTime64(3, 'UTC')}
  AND ({persona_id:String} = '' OR l.persona_id = {persona_id:String})
  AND ({feature:String} = '' OR l.feature = {feature:String})
  AND ({user_id:String} = '' OR l.user_id = {user_id:String})
  AND ({model:String} = '' OR l.model = {model:String})
