// Money bounds (findings 4, 5 and "sub-picodollar amounts round to 0" of
// issue "locked down"): each amount is judged on its own, with a reason an
// operator can act on; a batch with one bad amount keeps its siblings; a
// priced cost that is not zero never becomes a silent 0; and the bound is
// such that the ledger's Decimal(38, 12) cannot overflow (arithmetic in
// docs/money-and-escaping.md, checked here).
import { tenantWindow } from "../helpers/windows.ts";
import { mkdtempSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import type { JsMsg } from "@nats-io/jetstream";
import { createSubjects } from "../../pipeline/nats/subjects.ts";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../pipeline/config/config.ts";
import { decodeMessage, validateEvent } from "../../pipeline/enrich/decode.ts";
import { planMessage } from "../../pipeline/enrich/enrich-stage.ts";
import { parsePriced, rejectedOf } from "../../pipeline/ledger/priced-decoder.ts";
import { createLedgerHandler } from "../../pipeline/ledger/ledger-stage.ts";
import { createLogger } from "../../pipeline/observability/log.ts";
import { createMetrics } from "../../pipeline/observability/metrics.ts";
import { checkPricedAmounts, subPicodollarCost } from "../../pipeline/pricing/amount-bounds.ts";
import { Decimal } from "../../pipeline/pricing/decimal.ts";
import { createEventPricer } from "../../pipeline/pricing/price-event.ts";
import { createBudgetTracker } from "../../pipeline/budgets/budget-tracker.ts";
import {
  amountProblem,
  budgetSchema,
  costlineEvent,
  eventAmountPattern,
  MAX_EVENT_AMOUNT_USD,
  type PricedEvent,
} from "../../schemas/index.ts";

const cost = (id: string, amount: string) => ({
  specversion: "1.0",
  id,
  source: "t",
  type: "costline.cost",
  time: "2026-11-22T10:00:00Z",
  data: { tenant: "acme", amount, currency: "USD", category: "gpu" },
});
const limits = { maxMessageBytes: 1_000_000, maxBatchEvents: 1000 };
const bytes = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));

describe("the per-event bound", () => {
  it.each([
    ["0", undefined],
    ["-0", undefined],
    ["12.50", undefined],
    ["-5.25", undefined],
    ["0.000000000001", undefined],
    [MAX_EVENT_AMOUNT_USD, undefined],
    [`-${MAX_EVENT_AMOUNT_USD}`, undefined],
    ["5.250000000000000000", undefined],
    ["1000000000", "amount_out_of_range"],
    ["-1000000000", "amount_out_of_range"],
    ["999999999999999999999999.999999999999999999", "amount_out_of_range"],
    ["0.0000000000001", "too_many_decimals"],
    ["0.123456789012345678", "too_many_decimals"],
    ["-0.0000000000009", "too_many_decimals"],
    ["007.5", "validation"],
    ["1e9", "validation"],
    ["", "validation"],
    [" 1", "validation"],
    ["1.", "validation"],
    ["NaN", "validation"],
  ])("%j → %s", (amount, problem) => {
    expect(amountProblem(amount)).toBe(problem);
    expect(eventAmountPattern.test(amount)).toBe(problem === undefined);
  });

  it("leaves 1e17 events of headroom in Decimal(38, 12): no sum of a plausible ledger can overflow", () => {
    const columnMax = new Decimal(10).pow(26).minus("0.000000000001"); // Decimal(38, 12): 26 integer digits
    const perEvent = new Decimal(MAX_EVENT_AMOUNT_USD);
    const rows = columnMax.dividedBy(perEvent).floor();
    expect(rows.gte("1e17")).toBe(true);
    // A century at a million events a second is 3.2e15 rows: 31 times inside the bound.
    expect(rows.dividedBy(1e6 * 86_400 * 365.25 * 100).gt(30)).toBe(true);
    // The old bound (24 integer digits) overflowed at 100 events; 200 was the reported case.
    expect(new Decimal("999999999999999999999999.999999999999999999").times(200).gt(columnMax)).toBe(true);
  });
});

describe("enrich", () => {
  it("classifies each bad amount of a batch on its own", () => {
    const decoded = decodeMessage(
      bytes([cost("a", "1.5"), cost("b", "0.123456789012345678"), cost("c", "1e30"), cost("d", "10000000000")]),
      limits,
    );
    expect(decoded.map((d) => (d.ok ? "ok" : d.error.reason))).toEqual(["ok", "too_many_decimals", "validation", "amount_out_of_range"]);
    const bad = validateEvent(cost("x", "0.0000000000001"));
    expect(bad.ok === false && bad.error.message).toMatch(/more than 12 decimal places/);
  });

  it("prices the five siblings of one bad amount, a refund among them, and dead-letters only the bad one", () => {
    const toPriced = createEventPricer(loadConfig({}));
    const batch = [
      cost("a", "1.5"),
      cost("b", "2.25"),
      cost("refund", "-5.25"),
      cost("bad", "0.123456789012345678"),
      cost("d", "10"),
      cost("e", "0.000000000001"),
    ];
    const msg = { subject: "costline.events.acme", data: bytes(batch), info: { timestampNanos: Date.now() * 1e6 } } as unknown as JsMsg;
    const plan = planMessage(
      { msg, value: decodeMessage(msg.data, limits) },
      { subjects: createSubjects("costline"), toPriced, metrics: createMetrics() },
    );
    expect("groups" in plan).toBe(true);
    if (!("groups" in plan)) return;
    const priced = plan.groups.get("acme")!;
    expect(priced.map((e) => e.cost_usd)).toEqual(["1.5", "2.25", "-5.25", "10", "0.000000000001"]);
    expect(plan.dlq).toHaveLength(1);
    expect(plan.dlq[0]).toMatchObject({ reason: "too_many_decimals", batchIndex: 3 });
    expect(JSON.parse(Buffer.from(plan.dlq[0]!.payload!).toString()).id).toBe("bad");
  });

  it("refuses a priced cost above the bound (huge usage at a real rate) for that event alone", () => {
    expect(() => checkPricedAmounts({ cost_usd: "1000000000", revenue_usd: "0" })).toThrow(/outside ±999999999\.999999999999/);
    expect(() => checkPricedAmounts({ cost_usd: "12.5", revenue_usd: "-1000000000.1" })).toThrow(/revenue_usd/);
    expect(() => checkPricedAmounts({ cost_usd: null, revenue_usd: "0" })).not.toThrow();
  });
});

describe("a priced cost below a picodollar", () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "costline-money-"));
  writeFileSync(
    path.join(dir, "c.json"),
    JSON.stringify({ rateCards: { infra: [{ resource: "network", unit: "gib", price: "0.0000000000001" }] } }),
  );
  const toPriced = createEventPricer(loadConfig({ COSTLINE_CONFIG: path.join(dir, "c.json") }));
  const infra = (quantity: number) =>
    toPriced(
      costlineEvent.parse({
        specversion: "1.0",
        id: "i",
        source: "s",
        type: "costline.infra.usage",
        data: { tenant: "t", resource: "network", quantity, unit: "gib", service: "cdn" },
      }),
      new Date(),
    );

  it("is flagged unpriced with its exact value, never stored as a silent 0", () => {
    expect(infra(1)).toMatchObject({ cost_usd: null, priced: false, unpriced_reason: "below_money_scale:0.0000000000001" });
  });

  it("is priced normally once it reaches the ledger's scale", () => {
    expect(infra(10)).toMatchObject({ cost_usd: "0.000000000001", priced: true });
  });

  it("does not flag a real zero (no usage, or a full discount)", () => {
    expect(subPicodollarCost("0", [{ unit: "input_mtok", quantity: "0", unit_price: "2.5", per: 1e6, amount_usd: "0" }])).toBeUndefined();
    expect(
      subPicodollarCost("0", [
        { unit: "input_mtok", quantity: "1000", unit_price: "2.5", per: 1e6, amount_usd: "0.0025" },
        { unit: "tenant_discount", quantity: "1", unit_price: "1", per: 1, amount_usd: "-0.0025" },
      ]),
    ).toBeUndefined();
  });
});

describe("the ledger", () => {
  const priced = (id: string, cost_usd: unknown): Record<string, unknown> => ({
    event_id: id,
    source: "s",
    type: "costline.cost",
    kind: "cost",
    time: "2026-11-22T10:00:00.000Z",
    tenant: "acme",
    cost_usd,
    revenue_usd: "0",
    priced: true,
    price_source: "producer",
    price_version: "",
    attribution_method: "unattributed",
    enriched_at: "2026-11-22T10:00:01.000Z",
  });
  const msg = (body: unknown) => ({ json: () => body, data: bytes(body), info: { streamSequence: 1 } }) as unknown as JsMsg;

  it("keeps the valid events of a priced batch and dead-letters each bad one with its reason", async () => {
    const body = [priced("a", "1.5"), priced("over", "99999999999999999999999"), priced("b", "-5.25"), priced("pico", "0.0000000000001")];
    const events = parsePriced(msg(body));
    expect(events.map((e) => e.event_id)).toEqual(["a", "b"]);
    expect(rejectedOf(events).map((r) => [r.index, r.error.reason])).toEqual([
      [1, "amount_out_of_range"],
      [3, "too_many_decimals"],
    ]);

    const inserted: PricedEvent[] = [];
    const handle = createLedgerHandler({
      store: { existingKeys: async () => new Set(), insert: async (e) => void inserted.push(...e) },
      metrics: createMetrics(),
      log: createLogger("silent"),
    });
    const [outcome] = await handle([{ msg: msg(body), value: events }]);
    expect(outcome).toMatchObject({
      kind: "done",
      dlq: [
        { reason: "amount_out_of_range", batchIndex: 1, eventId: "over" },
        { reason: "too_many_decimals", batchIndex: 3, eventId: "pico" },
      ],
    });
    expect(inserted.map((e) => e.cost_usd)).toEqual(["1.5", "-5.25"]);
  });

  it("still refuses a message whose every event is bad, as a whole", () => {
    expect(() => parsePriced(msg([priced("x", "1e99")]))).toThrow(/priced event 0 of batch/);
    expect(() => parsePriced(msg(priced("y", "10000000000")))).toThrow(expect.objectContaining({ reason: "amount_out_of_range" }));
  });
});

describe("refunds and credits in budgets", () => {
  it("count spend net of credits: a credit lowers the period's spend and the next crossing needs the net amount", () => {
    const t = createBudgetTracker();
    t.set(budgetSchema.parse({ scope: { tenant: "acme" }, period: "monthly", amount_usd: "10", thresholds: [1] }));
    const win = (start: string, cost: string) => tenantWindow({ start, cost });
    expect(t.add(win("2026-11-10T10:00:00Z", "8"))).toEqual([]);
    expect(t.add(win("2026-11-10T10:01:00Z", "-5.25"))).toEqual([]); // a refund
    expect(t.spend("acme.tenant.monthly")).toBe("2.75");
    expect(t.add(win("2026-11-10T10:02:00Z", "7"))).toEqual([]); // 9.75: still under
    expect(t.add(win("2026-11-10T10:03:00Z", "0.25")).map((f: { finding: { message: string } }) => f.finding.message)).toEqual([
      "100 % of the monthly budget for tenant acme spent ($10.00 of $10.00)",
    ]);
  });
});
