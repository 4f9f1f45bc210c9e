-- Shared costs allocated to a post (cost_allocations is keyed by tenant, post).
SELECT
    kind,
    toString(sum(amount_usd)) AS cost_usd,
    count() AS shared_events
FROM costline.cost_allocations FINAL
WHERE tenant = {tenant:String} AND post_id = {post_id:String}
GROUP BY kind
-- ORDER BY: kinds by name, a stable order.
ORDER BY kind
