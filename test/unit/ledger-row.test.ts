import { describe, expect, it } from "vitest";
import { chTime, ledgerColumns, ledgerInsertBody, ledgerRow, ledgerValues } from "../../pipeline/ledger/ledger-row.ts";
import type { PricedEvent } from "../../schemas/index.ts";

const event: PricedEvent = {
  event_id: "e-1",
  source: "svc/hooks",
  type: "costline.llm.usage",
  kind: "llm",
  time: "2026-11-22T10:00:00.123Z",
  tenant: "acme",
  provider: "openai",
  model: "gpt-4o",
  model_requested: "gpt-4o-2024-08-06",
  category: "",
  usage: { input_tokens: 1000, output_tokens: 500.4, cache_read_tokens: 200 },
  batch: false,
  cost_usd: "0.0075",
  revenue_usd: "0",
  priced: true,
  price_source: "genai-prices",
  price_version: "0.1.8",
  components: [{ unit: "input_mtok", quantity: "1000", unit_price: "2.5", per: 1_000_000, amount_usd: "0.0025" }],
  attribution_method: "direct",
  enriched_at: "2026-11-22T10:00:01.000Z",
  tags: { env: "prod", 'quote"d': "tab\there" },
  post_id: "p-981",
};

describe("ledger rows", () => {
  it("writes the compact insert's values in the order of its columns, the same values as the row object", () => {
    const row = ledgerRow(event);
    expect([...ledgerColumns].sort()).toEqual(Object.keys(row).sort());
    expect(ledgerValues(event)).toEqual(ledgerColumns.map((c) => row[c]));
    expect(ledgerValues({ ...event, cost_usd: null, latency_ms: 12 })).toEqual(
      ledgerColumns.map((c) => ledgerRow({ ...event, cost_usd: null, latency_ms: 12 })[c]),
    );
  });

  it("puts one JSON array per event on its own line", () => {
    const lines = ledgerInsertBody([event, { ...event, event_id: "e-2" }]).split("\n");
    expect(lines).toHaveLength(2);
    expect(JSON.parse(lines[1]!)[0]).toBe("e-2");
    expect(ledgerInsertBody([])).toBe("");
  });

  it("gives ClickHouse's UTC time text for canonical and other ISO times alike", () => {
    expect(chTime("2026-11-22T10:00:00.123Z")).toBe("2026-11-22 10:00:00.123");
    expect(chTime("2026-11-22T12:00:00.123+02:00")).toBe("2026-11-22 10:00:00.123");
    expect(chTime("2026-11-22T10:00:00Z")).toBe("2026-11-22 10:00:00.000");
  });
});
