// Pricing through the running stack: configured prices and discounts reach
// the ledger with their provenance; an unknown model is stored with an
// unknown cost, flagged, and raised once per model as an alert.
import { writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectStack } from "../helpers/stack-nats.ts";
import type { NatsConnection } from "@nats-io/nats-core";
import { jetstreamManager } from "@nats-io/jetstream";
import { createProducer } from "../../pipeline/producer/producer.ts";
import type { CostlineEventInput } from "../../schemas/index.ts";
import { startStack, tempHome, waitFor, type StackProcess } from "../helpers/stack-process.ts";

let stack: StackProcess;
let nc: NatsConnection;

const sql = <T>(query: string) => stack.sql<T>(query);

function llm(
  id: string,
  tenant: string,
  provider: string,
  model: string,
  usage: Record<string, number>,
  batch = false,
): CostlineEventInput {
  return {
    specversion: "1.0",
    id,
    source: "test/pricing",
    type: "costline.llm.usage",
    time: "2026-11-22T10:00:00Z",
    data: { tenant, provider, model, usage, batch, post_id: "p-1" },
  };
}

beforeAll(async () => {
  const home = tempHome();
  const configFile = path.join(home, "costline.json");
  writeFileSync(
    configFile,
    JSON.stringify({
      pricing: {
        tenantDiscounts: [{ tenant: "acme", provider: "openai", discount: "0.2" }],
        models: [{ provider: "acme-ai", model: "house-7", prices: { input_mtok: "1", output_mtok: "2" } }],
      },
    }),
  );
  stack = await startStack(home, { COSTLINE_CONFIG: configFile });
  nc = await connectStack(stack);
});
afterAll(async () => {
  await nc?.close();
  if (stack?.child.exitCode === null) await stack.stop();
});

describe("pricing in the running stack", () => {
  it("stores priced rows with their source, and unknown models as unknown cost with one alert per model", async () => {
    const producer = await createProducer({ nc });
    await producer.publish([
      llm("a1", "acme", "openai", "gpt-4o", { input_tokens: 1000, output_tokens: 500 }), // 0.0075 × 0.8
      llm("a2", "globex", "openai", "gpt-4o", { input_tokens: 1000, output_tokens: 500 }, true), // 0.0075 × 0.5
      llm("a3", "globex", "acme-ai", "house-7", { input_tokens: 1_000_000, output_tokens: 1_000_000 }), // 1 + 2
      llm("u1", "acme", "mystery", "model-x", { input_tokens: 10 }),
      llm("u2", "globex", "mystery", "model-x", { input_tokens: 20 }),
      llm("u3", "acme", "mystery", "model-y", { input_tokens: 30 }),
    ]);
    await waitFor("six ledger rows", async () => ((await stack.api<{ events: number }>("/v1/totals")).events === 6 ? true : undefined));
    const rows = await sql<{ event_id: string; cost: string | null; priced: boolean; price_source: string; unpriced_reason: string }>(
      "SELECT event_id, toString(cost_usd) AS cost, priced, price_source, unpriced_reason FROM costline.ledger FINAL ORDER BY event_id",
    );
    expect(rows).toEqual([
      { event_id: "a1", cost: "0.006", priced: true, price_source: "genai-prices", unpriced_reason: "" },
      { event_id: "a2", cost: "0.00375", priced: true, price_source: "genai-prices", unpriced_reason: "" },
      { event_id: "a3", cost: "3", priced: true, price_source: "config", unpriced_reason: "" },
      { event_id: "u1", cost: null, priced: false, price_source: "genai-prices", unpriced_reason: "unknown_model" },
      { event_id: "u2", cost: null, priced: false, price_source: "genai-prices", unpriced_reason: "unknown_model" },
      { event_id: "u3", cost: null, priced: false, price_source: "genai-prices", unpriced_reason: "unknown_model" },
    ]);
    const totals = await stack.api<{ events: number; cost_usd: string; unpriced_events: number }>("/v1/totals");
    expect(totals).toEqual({ events: 6, cost_usd: "3.00975", unpriced_events: 3 });

    const alerts = await waitFor("one alert per unpriced model", async () => {
      const a = await sql<{ model: string; type: string; n: number }>(
        "SELECT scope_key['model'] AS model, type, toUInt32(count()) AS n FROM costline.alerts FINAL GROUP BY model, type ORDER BY model",
      );
      return a.length === 2 ? a : undefined;
    });
    expect(alerts).toEqual([
      { model: "model-x", type: "unpriced_model", n: 1 },
      { model: "model-y", type: "unpriced_model", n: 1 },
    ]);
    // Raised once per model: two alert messages in all, not one per event.
    const jsm = await jetstreamManager(nc);
    expect((await jsm.streams.info("COSTLINE_ALERTS")).state.messages).toBe(2);
    const metrics = await (await fetch(`${stack.info.api_url}/metrics`)).text();
    expect(metrics).toMatch(/costline_unpriced_events_total\{provider="mystery",model="model-x"\} 2/);
  });
});
