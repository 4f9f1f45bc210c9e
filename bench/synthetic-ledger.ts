// A synthetic ledger for the API benchmarks: `rows` LLM, infra and vector-db
// rows over 20 tenants × 50,000 posts and three months from `start`, inserted
// through the ledger table so every materialized view fires as in production.
import type { ClickHouseClient } from "@clickhouse/client";

export const TENANTS = 20;
export const POSTS_PER_TENANT = 50_000;

export async function fillSyntheticLedger(client: ClickHouseClient, rows: number, start = "2026-08-01 00:00:00"): Promise<void> {
  if (!/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/.test(start)) throw new Error(`start must look like 2026-08-01 00:00:00, got ${start}`);
  const chunk = 1_000_000;
  for (let offset = 0; offset < rows; offset += chunk) {
    const n = Math.min(chunk, rows - offset);
    await client.command({
      query: `INSERT INTO costline.ledger (event_id, source, type, kind, time, tenant, provider, model, model_requested, post_id, persona_id, user_id, feature, operation,
                input_tokens, output_tokens, cost_usd, revenue_usd, priced, price_source, price_version, components, attribution_method)
              SELECT
                concat('e', toString(number)), 'bench/api', 'costline.llm.usage',
                ['llm', 'llm', 'llm', 'llm', 'infra', 'vectordb'][number % 6 + 1],
                toDateTime64('${start}', 3, 'UTC') + toIntervalMillisecond(intDiv(number * 7919, 10) % 7776000000),
                concat('tenant-', toString(number % ${TENANTS})),
                ['openai', 'anthropic', 'google'][number % 3 + 1],
                ['gpt-4o', 'claude-sonnet-4-0', 'gemini-2.5-flash'][number % 3 + 1],
                '',
                concat('p-', toString(intDiv(number, ${TENANTS}) % ${POSTS_PER_TENANT})),
                concat('persona-', toString(number % 17)),
                concat('u-', toString(number % 5000)),
                'hooks', 'draft',
                500 + number % 3000, 100 + number % 900,
                toDecimal128(toString((number % 100000) / 10000000.), 12), toDecimal128(0, 12), true, 'genai-prices', '0.1.8', '[]', 'direct'
              FROM numbers(${offset}, ${n})`,
    });
    process.stderr.write(`filled ${offset + n} rows\n`);
  }
}
