// Money bounds on a real stack (nats-server + embedded ClickHouse): findings
// 4, 5 and the sub-picodollar one of issue "locked down". One bad amount in a
// batch goes to the DLQ alone with its own reason while its five siblings (a
// refund among them) land once; `dlq retry` of it fails the same way again
// without touching the siblings, and the corrected event lands once. 200
// events at the largest amount the schema accepts sum exactly, in the ledger,
// every rollup and the global total: no sum wraps.
import { spawnSync } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectStack } from "../helpers/stack-nats.ts";
import { jetstream, type JetStreamClient } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { createSubjects } from "../../pipeline/nats/subjects.ts";
import { Decimal } from "../../pipeline/pricing/decimal.ts";
import { dlqRecordSchema, MAX_EVENT_AMOUNT_USD, type CostlineEventInput, type DlqRecord } from "../../schemas/index.ts";
import { cliPath, repoRoot, startStack, tempHome, waitFor, type StackProcess } from "../helpers/stack-process.ts";

const subjects = createSubjects("costline");
const home = tempHome("costline-sec-money-");
let stack: StackProcess;
let nc: NatsConnection;
let js: JetStreamClient;
const dlq: DlqRecord[] = [];

const event = (
  tenant: string,
  id: string,
  amount: string,
  type: "costline.cost" | "costline.revenue" = "costline.cost",
): CostlineEventInput =>
  ({
    specversion: "1.0",
    id,
    source: "test/money",
    type,
    time: new Date(Date.UTC(2026, 10, 22, 10, 0, 0)).toISOString(),
    data: type === "costline.cost" ? { tenant, amount, currency: "USD", category: "gpu" } : { tenant, amount, currency: "USD" },
  }) as CostlineEventInput;

const publish = (tenant: string, events: CostlineEventInput[]) => js.publish(subjects.events(tenant), JSON.stringify(events));
const totals = (tenant?: string) =>
  stack.api<{ events: number; cost_usd: string; unpriced_events: number }>(
    `/v1/totals${tenant ? `?tenant=${encodeURIComponent(tenant)}` : ""}`,
  );
const one = async (sql: string) => String(Object.values((await stack.sql<Record<string, unknown>>(sql))[0] ?? {})[0]);
const rows = async (tenant: string) => Number(await one(`SELECT count() AS n FROM costline.ledger WHERE tenant = '${tenant}'`));
const sum = (xs: string[]) => xs.reduce((s, x) => s.plus(x), new Decimal(0)).toFixed();
const dlqFor = (id: string) => dlq.filter((r) => r.event_id === id);

function cli(...args: string[]) {
  const r = spawnSync(process.execPath, [cliPath, ...args], {
    cwd: repoRoot,
    env: { ...process.env, COSTLINE_HOME: home },
    encoding: "utf8",
  });
  if (r.status !== 0) throw new Error(`costline ${args.join(" ")} exited ${r.status}: ${r.stderr}`);
  return r.stdout;
}

beforeAll(async () => {
  stack = await startStack(home);
  nc = await connectStack(stack, "operator");
  js = jetstream(nc);
  const consumer = await js.consumers.get("COSTLINE_DLQ");
  void (async () => {
    for await (const m of await consumer.consume()) dlq.push(dlqRecordSchema.parse(m.json()));
  })();
}, 120_000);

afterAll(async () => {
  await nc?.close();
  if (stack?.child.exitCode === null) await stack.stop();
});

describe("money bounds on the stack", () => {
  it("refuses one amount of 18 decimals alone: its five siblings, a refund among them, land once; dlq retry fails it again; the corrected one lands", async () => {
    const tenant = "refund-co";
    const good = ["1.5", "2.25", "-5.25", "10", "0.000000000001"];
    const bad = "0.123456789012345678";
    const batch = [
      ...good.slice(0, 3).map((a, i) => event(tenant, `ok-${i}`, a)),
      event(tenant, "bad-18", bad),
      ...good.slice(3).map((a, i) => event(tenant, `ok-${i + 3}`, a)),
    ];
    await publish(tenant, batch);

    await waitFor("the five valid events in the ledger", async () => ((await rows(tenant)) === 5 ? true : undefined), 60_000);
    const [record] = await waitFor("the DLQ record", async () => (dlqFor("bad-18").length ? dlqFor("bad-18") : undefined), 30_000);
    expect(record).toMatchObject({ stage: "enrich", reason: "too_many_decimals", batch_index: 3, tenant, event_id: "bad-18" });
    expect(record!.detail).toMatch(/more than 12 decimal places/);
    // Only the bad element is in the record: a retry cannot bring the siblings back a second time.
    expect(JSON.parse(Buffer.from(record!.payload_b64, "base64").toString("utf8")).id).toBe("bad-18");
    const t = await totals(tenant);
    expect(t).toMatchObject({ events: 5, cost_usd: sum(good), unpriced_events: 0 });
    expect(t.cost_usd).toBe("8.500000000001"); // the refund is subtracted
    // Exactly once: no duplicate rows even before merges.
    expect(await one(`SELECT count() AS n FROM costline.ledger FINAL WHERE tenant = '${tenant}'`)).toBe("5");
    expect(await one(`SELECT toString(sum(cost_usd)) AS s FROM costline.ledger_minute WHERE tenant = '${tenant}'`)).toBe("8.500000000001");

    // dlq retry of the uncorrected record: refused again with the same reason, the ledger unchanged.
    const retried = JSON.parse(cli("dlq", "retry", "--reason", "too_many_decimals", "--tenant", tenant)) as { retried: number };
    expect(retried.retried).toBe(1);
    await waitFor("the retried record back in the DLQ", async () => (dlqFor("bad-18").length >= 2 ? true : undefined), 30_000);
    expect(dlqFor("bad-18").map((r) => r.reason)).toEqual(["too_many_decimals", "too_many_decimals"]);
    expect(await rows(tenant)).toBe(5);

    // Corrected by the producer (same id, 12 decimals): lands once, next to the five.
    await publish(tenant, [event(tenant, "bad-18", "0.123456789012")]);
    await waitFor("the corrected event", async () => ((await rows(tenant)) === 6 ? true : undefined), 30_000);
    expect((await totals(tenant)).cost_usd).toBe(sum([...good, "0.123456789012"]));
  });

  it("refuses amounts out of range, sub-picodollar amounts and the old schema maximum per event, each with its reason", async () => {
    const tenant = "bounds-co";
    const cases: [string, string, string][] = [
      ["over-1e9", "1000000000", "amount_out_of_range"],
      ["old-max", "999999999999999999999999.999999999999999999", "amount_out_of_range"],
      ["neg-over", "-1000000000.5", "amount_out_of_range"],
      ["sub-pico", "0.0000000000001", "too_many_decimals"],
      ["rev-sub-pico", "0.0000000000009", "too_many_decimals"],
    ];
    const batch = cases.flatMap(([id, amount], i) => [
      event(tenant, id, amount, id.startsWith("rev") ? "costline.revenue" : "costline.cost"),
      event(tenant, `sibling-${i}`, "0.5"),
    ]);
    await publish(tenant, batch);
    await waitFor("every sibling", async () => ((await rows(tenant)) === cases.length ? true : undefined), 60_000);
    await waitFor("every refusal", async () => (cases.every(([id]) => dlqFor(id).length === 1) ? true : undefined), 30_000);
    for (const [id, , reason] of cases) expect(dlqFor(id)[0]!.reason, id).toBe(reason);
    // Trailing zeros are not precision: 18 written decimals of which 2 count are accepted.
    await publish(tenant, [event(tenant, "zeros", "5.250000000000000000")]);
    await waitFor("the trailing-zero amount", async () => ((await rows(tenant)) === cases.length + 1 ? true : undefined), 30_000);
    expect((await totals(tenant)).cost_usd).toBe(sum([...cases.map(() => "0.5"), "5.25"]));
    // Never silently 0: no row of this tenant has a zero cost.
    expect(await one(`SELECT count() AS n FROM costline.ledger WHERE tenant = '${tenant}' AND cost_usd = 0`)).toBe("0");
  });

  it("sums 200 events at the largest accepted amount exactly: tenant totals, rollups and the global total do not wrap", async () => {
    const tenant = "whale";
    const before = await totals();
    for (let b = 0; b < 4; b++)
      await publish(
        tenant,
        Array.from({ length: 50 }, (_, i) => event(tenant, `max-${b * 50 + i}`, MAX_EVENT_AMOUNT_USD)),
      );
    await waitFor("200 maximal events", async () => ((await rows(tenant)) === 200 ? true : undefined), 90_000);
    const expected = new Decimal(MAX_EVENT_AMOUNT_USD).times(200).toFixed();
    expect(expected).toBe("199999999999.9999999998");
    expect((await totals(tenant)).cost_usd).toBe(expected);
    for (const table of ["ledger_minute", "ledger_hour", "ledger_day_user"])
      expect(await one(`SELECT toString(sum(cost_usd)) AS s FROM costline.${table} WHERE tenant = '${tenant}'`), table).toBe(expected);
    const after = await totals();
    expect(after.cost_usd).toBe(new Decimal(before.cost_usd).plus(expected).toFixed());
    expect(after.cost_usd.startsWith("-")).toBe(false);
    // The same amount as a credit: the tenant's refunds are as exact as its costs.
    await publish(tenant, [event(tenant, "credit-max", `-${MAX_EVENT_AMOUNT_USD}`)]);
    await waitFor("the credit", async () => ((await rows(tenant)) === 201 ? true : undefined), 30_000);
    expect((await totals(tenant)).cost_usd).toBe(new Decimal(MAX_EVENT_AMOUNT_USD).times(199).toFixed());
  });

  it("exports formula-looking names as text and a refund as a number in the usage CSV", async () => {
    const tenant = "csv-co";
    const withUser = (id: string, amount: string, user_id: string) => {
      const e = event(tenant, id, amount) as { data: Record<string, unknown> };
      e.data.user_id = user_id;
      return e as CostlineEventInput;
    };
    await publish(tenant, [
      withUser("csv-1", "-5.25", '=HYPERLINK("https://evil.example","x")'),
      withUser("csv-2", "2", "@SUM(1+1)"),
      withUser("csv-3", "1", "+1"),
      withUser("csv-4", "3", "-2+3"),
    ]);
    await waitFor("the CSV events", async () => ((await rows(tenant)) === 4 ? true : undefined), 30_000);
    const res = await fetch(`${stack.info.api_url}/v1/reports/usage?tenant=${tenant}&from=2026-11-22&to=2026-11-23&format=csv`, {
      headers: { authorization: `Bearer ${stack.adminKey}` },
    });
    expect(res.status).toBe(200);
    const lines = (await res.text()).trim().split("\n");
    expect(lines[0]).toBe("day,tenant,provider,model,user_id,requests,input_tokens,output_tokens,cost_usd");
    expect(lines.slice(1).sort()).toEqual(
      [
        `2026-11-22,${tenant},,,"'=HYPERLINK(""https://evil.example"",""x"")",0,0,0,-5.25`,
        `2026-11-22,${tenant},,,"'@SUM(1+1)",0,0,0,2`,
        `2026-11-22,${tenant},,,"'+1",0,0,0,1`,
        `2026-11-22,${tenant},,,"'-2+3",0,0,0,3`,
      ].sort(),
    );
  });
});
