-- The ledger as FOCUS 1.2 cost and usage rows: one row per hour, tenant, kind,
-- provider, model, feature and persona (revenue is not a cost and is left out).
-- {focus_kinds} and the label arrays beside it are the costed kinds' FOCUS
-- labels, in the same order (schemas/event-kinds.ts, focusLabelParams).
-- The tenant is the billing account, the feature the sub-account, the model
-- the resource. costline prices at the rates configured for the tenant and
-- keeps no separate list or contracted price, so ListCost, ContractedCost and
-- EffectiveCost equal BilledCost. FINAL: one row per unique event.
SELECT
    sum(ifNull(cost_usd, toDecimal128(0, 12))) AS BilledCost,
    tenant AS BillingAccountId,
    tenant AS BillingAccountName,
    'USD' AS BillingCurrency,
    toDateTime(toStartOfMonth(ChargePeriodStart), 'UTC') AS BillingPeriodStart,
    toDateTime(addMonths(toStartOfMonth(ChargePeriodStart), 1), 'UTC') AS BillingPeriodEnd,
    if(BilledCost < 0, 'Credit', 'Usage') AS ChargeCategory,
    CAST(NULL, 'Nullable(String)') AS ChargeClass,
    concat(transform(kind, {focus_kinds:Array(String)}, {focus_charges:Array(String)}, 'Cost'),
           ' of ', coalesce(nullIf(model, ''), provider), ' (', provider, ')') AS ChargeDescription,
    'Usage-Based' AS ChargeFrequency,
    toStartOfHour(time) AS ChargePeriodStart,
    ChargePeriodStart + INTERVAL 1 HOUR AS ChargePeriodEnd,
    toDecimal128(if(kind = 'llm', sum(input_tokens + output_tokens), count()), 0) AS ConsumedQuantity,
    if(kind = 'llm', 'Tokens', 'Events') AS ConsumedUnit,
    BilledCost AS ContractedCost,
    BilledCost AS EffectiveCost,
    provider AS InvoiceIssuerName,
    BilledCost AS ListCost,
    ConsumedQuantity AS PricingQuantity,
    ConsumedUnit AS PricingUnit,
    provider AS ProviderName,
    provider AS PublisherName,
    nullIf(model, '') AS ResourceId,
    nullIf(model, '') AS ResourceName,
    transform(kind, {focus_kinds:Array(String)}, {focus_types:Array(String)}, 'Other') AS ResourceType,
    transform(kind, {focus_kinds:Array(String)}, {focus_categories:Array(String)}, 'Other') AS ServiceCategory,
    provider AS ServiceName,
    transform(kind, {focus_kinds:Array(String)}, {focus_subcategories:Array(String)}, 'Other (Other)') AS ServiceSubcategory,
    nullIf(feature, '') AS SubAccountId,
    nullIf(feature, '') AS SubAccountName,
    toJSONString(mapFilter((k, v) -> v != '', map('costline.kind', kind, 'costline.persona_id', persona_id, 'costline.feature', feature))) AS Tags,
    count() AS x_Events,
    countIf(NOT priced) AS x_UnpricedEvents,
    sum(input_tokens) AS x_InputTokens,
    sum(output_tokens) AS x_OutputTokens
FROM costline.ledger FINAL
WHERE ({tenant:String} = '' OR tenant = {tenant:String})
  AND time >= {from:DateTime64(3, 'UTC')}
  AND time < {to:DateTime64(3, 'UTC')}
  AND has({focus_kinds:Array(String)}, kind)
GROUP BY tenant, ChargePeriodStart, kind, provider, model, feature, persona_id
-- ORDER BY: time first (a FinOps tool loads periods in order), then the grouping keys for a stable file.
ORDER BY ChargePeriodStart, kind, provider, model, feature, persona_id
LIMIT {limit:UInt64}
