// Re-pricing on the running stack: events priced with a wrong catalog price,
// the price corrected from a past date, `costline reprice` run twice — the
// ledger, every rollup, post totals and budget spend come out exact to the
// picodollar, and one audit record names the run.
//
// Prices (platform.openai.com/docs/pricing, gpt-4o-mini: $0.15 in, $0.60 out
// per 1M tokens); the wrong price set first is ten times that.
import type { NatsConnection } from "@nats-io/nats-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createProducer } from "../../pipeline/producer/producer.ts";
import type { CostlineEventInput } from "../../schemas/index.ts";
import { runCli } from "../helpers/cli-process.ts";
import { connectStack } from "../helpers/stack-nats.ts";
import { startStack, tempHome, waitFor, type StackProcess } from "../helpers/stack-process.ts";

let stack: StackProcess;
let nc: NatsConnection;
const at = new Date(Date.now() - 30 * 60_000).toISOString();
const from = new Date(Date.now() - 2 * 3600_000).toISOString();
const to = new Date(Date.now() + 10 * 60_000).toISOString();

function llm(id: string, tenant: string, model: string, post: string, input: number, output: number): CostlineEventInput {
  return {
    specversion: "1.0",
    id,
    source: "test/reprice",
    type: "costline.llm.usage",
    time: at,
    data: { tenant, provider: "openai", model, post_id: post, user_id: "u-1", usage: { input_tokens: input, output_tokens: output } },
  };
}

const cli = async (...args: string[]) => {
  const r = await runCli(args, { COSTLINE_HOME: stack.home });
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as Record<string, unknown>;
};
const one = async <T>(query: string) => (await stack.sql<T>(query))[0]!;

beforeAll(async () => {
  stack = await startStack(tempHome("costline-reprice-"), { COSTLINE_PRICE_CATALOG_REFRESH_MS: "200" });
  nc = await connectStack(stack);
}, 120_000);
afterAll(async () => {
  await nc?.close();
  if (stack?.child.exitCode === null) await stack.stop();
});

describe("re-pricing a past period", () => {
  it("corrects ledger, rollups, post totals and budget spend exactly, once", async () => {
    // 1. A wrong price in the catalog (version 1): ten times gpt-4o-mini's list price.
    const set = (input: string, output: string) =>
      cli(
        "prices",
        "set",
        ...["--provider", "openai", "--model", "gpt-4o-mini", "--from", "2026-01-01"],
        ...["--price", `input_mtok=${input}`, "--price", `output_mtok=${output}`, "--source", "test: a mistyped price"],
      );
    expect(await set("1.5", "6")).toMatchObject({ version: 1 });

    // enrich re-reads the catalog every 200 ms: probe (another tenant) until an event is priced by it.
    const producer = await createProducer({ nc });
    let probes = 0;
    await waitFor(
      "enrich to price with catalog version 1",
      async () => {
        await producer.publish([llm(`probe-${probes++}`, "probe", "gpt-4o-mini", "p-x", 1, 1)]);
        const r = await stack.sql<{ n: string }>(
          "SELECT toString(count()) AS n FROM costline.ledger WHERE tenant = 'probe' AND price_source = 'catalog' AND catalog_version LIKE 'v1+%'",
        );
        return Number(r[0]?.n) > 0 ? true : undefined;
      },
      60_000,
    );

    // 2. Events priced with the wrong price (the arithmetic per 1M tokens beside each).
    await producer.publish([
      llm("e1", "acme", "gpt-4o-mini", "p-1", 10_000, 2000), // wrong 0.015 + 0.012 = 0.027; right 0.0015 + 0.0012 = 0.0027
      llm("e2", "acme", "gpt-4o-mini", "p-1", 1_234_567, 89_012), // wrong 1.8518505 + 0.534072; right 0.18518505 + 0.0534072 = 0.23859225
      llm("e3", "acme", "gpt-4o-mini", "p-2", 3, 7), // wrong 0.0000045 + 0.000042; right 0.00000045 + 0.0000042 = 0.00000465
      llm("e4", "acme", "gpt-4o", "p-1", 1000, 500), // not re-priced: 1000×2.5 + 500×10 = 0.0075
      // Another tenant, one of its events under acme's source and id: re-pricing acme's e1 must not touch it.
      llm("e1", "globex", "gpt-4o", "p-1", 1000, 500), // not re-priced: 0.0075
      llm("e9", "globex", "gpt-4o-mini", "p-9", 20_000, 0), // wrong 0.03; right 0.003; at version 3 0.006
    ]);
    await waitFor("four acme rows", async () =>
      (await stack.api<{ events: number }>("/v1/totals?tenant=acme")).events === 4 ? true : undefined,
    );
    const res = await fetch(`${stack.info.api_url}/v1/budgets`, {
      method: "PUT",
      headers: { authorization: `Bearer ${stack.adminKey}`, "content-type": "application/json" },
      body: JSON.stringify({ scope: { tenant: "acme" }, period: "rolling_30d", amount_usd: "1000" }),
    });
    expect(res.status).toBe(200);

    const wrong = "2.420469"; // 0.027 + 2.3859225 + 0.0000465 + 0.0075
    const right = "0.2487969"; // 0.0027 + 0.23859225 + 0.00000465 + 0.0075
    const expectEverywhere = async (total: string, p1: string, p2: string) => {
      expect(await stack.api("/v1/totals?tenant=acme")).toMatchObject({ events: 4, cost_usd: total });
      for (const table of ["ledger_minute", "ledger_hour", "ledger_day_user", "ledger_post"])
        expect(
          await one(`SELECT toString(sum(cost_usd)) AS cost, toString(sum(events)) AS events FROM costline.${table} WHERE tenant = 'acme'`),
          table,
        ).toEqual({ cost: total, events: "4" });
      expect(await stack.api("/v1/posts/p-1/costs?tenant=acme")).toMatchObject({ direct_usd: p1, events: 3 });
      expect(await stack.api("/v1/posts/p-2/costs?tenant=acme")).toMatchObject({ direct_usd: p2, events: 1 });
      const budgets = await stack.api<{ budgets: { state: { spend_usd: string } }[] }>("/v1/budgets?tenant=acme");
      expect(budgets.budgets[0]!.state.spend_usd).toBe(total);
    };
    await expectEverywhere(wrong, "2.4204225", "0.0000465");

    // 3. The price corrected from the same past date (version 2); the diff names it.
    expect(await set("0.15", "0.6")).toMatchObject({ version: 2 });
    expect(await cli("prices", "diff", "--from", "1", "--to", "2")).toMatchObject({
      changes: [
        { change: "changed", provider: "openai", model: "gpt-4o-mini", before: { input_mtok: "1.5" }, after: { input_mtok: "0.15" } },
      ],
    });

    // 4. A dry run prints both totals and writes nothing.
    const range = ["--from", from, "--to", to, "--tenant", "acme"];
    expect(await cli("reprice", ...range, "--dry-run")).toMatchObject({
      dry_run: true,
      events: 4,
      changed_events: 3,
      old_total_usd: wrong,
      new_total_usd: right,
      delta_usd: "-2.1716721",
      written: false,
    });
    await expectEverywhere(wrong, "2.4204225", "0.0000465");

    // 5. Re-price, then again: the second run finds nothing to change.
    const first = await cli("reprice", ...range, "--yes", "--reason", "mistyped gpt-4o-mini price");
    expect(first).toMatchObject({ written: true, changed_events: 3, old_total_usd: wrong, new_total_usd: right });
    expect(first.catalog_version).toMatch(/^v2\+overlay@/);
    const second = await cli("reprice", ...range, "--yes");
    expect(second).toMatchObject({ changed_events: 0, old_total_usd: right, new_total_usd: right });
    await expectEverywhere(right, "0.24879225", "0.00000465");

    // The ledger rows say which catalog version priced them now.
    expect(
      await stack.sql(
        "SELECT event_id, toString(cost_usd) AS cost, price_source, substring(catalog_version, 1, 3) AS v FROM costline.ledger FINAL WHERE tenant = 'acme' ORDER BY event_id",
      ),
    ).toEqual([
      { event_id: "e1", cost: "0.0027", price_source: "catalog", v: "v2+" },
      { event_id: "e2", cost: "0.23859225", price_source: "catalog", v: "v2+" },
      { event_id: "e3", cost: "0.00000465", price_source: "catalog", v: "v2+" },
      { event_id: "e4", cost: "0.0075", price_source: "genai-prices", v: "v1+" },
    ]);

    // 6. One audit record: who, why, both totals, the catalog versions.
    const runs = await stack.api<{ runs: Record<string, unknown>[] }>("/v1/admin/reprice/runs");
    expect(runs.runs).toHaveLength(1);
    expect(runs.runs[0]).toMatchObject({
      run_id: first.run_id,
      reason: "mistyped gpt-4o-mini price",
      tenant: "acme",
      changed_events: "3",
      old_total_usd: wrong,
      new_total_usd: right,
      actor: expect.stringMatching(/^operator:/),
    });
    expect(await one("SELECT toString(count()) AS n FROM costline.reprice_corrections")).toEqual({ n: "3" });

    // 7. A price raised (version 3: twice the right one) and every tenant re-priced in one run: acme's e1
    //    changes, globex's e1 (same source and id, another model) keeps its cost, globex's e9 changes.
    await waitFor("two globex rows", async () =>
      (await stack.api<{ events: number }>("/v1/totals?tenant=globex")).events === 2 ? true : undefined,
    );
    expect(await set("0.3", "1.2")).toMatchObject({ version: 3 });
    const all = await cli("reprice", "--from", from, "--to", to, "--yes", "--reason", "every tenant");
    expect(all).toMatchObject({ written: true });
    expect(
      await stack.sql(
        "SELECT tenant, event_id, toString(cost_usd) AS cost FROM costline.ledger FINAL WHERE tenant IN ('acme', 'globex') AND event_id IN ('e1', 'e9') ORDER BY tenant, event_id",
      ),
    ).toEqual([
      { tenant: "acme", event_id: "e1", cost: "0.0054" },
      { tenant: "globex", event_id: "e1", cost: "0.0075" },
      { tenant: "globex", event_id: "e9", cost: "0.006" },
    ]);
    expect(await stack.api("/v1/totals?tenant=globex")).toMatchObject({ events: 2, cost_usd: "0.0135" });
    expect(await one("SELECT toString(sum(cost_usd)) AS cost FROM costline.ledger_minute WHERE tenant = 'globex'")).toEqual({
      cost: "0.0135",
    });
  }, 240_000);
});
