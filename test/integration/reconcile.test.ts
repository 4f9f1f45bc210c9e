// Reconciliation on the running stack: the ledger against provider exports in
// the shapes their documentation gives (test/fixtures/reconcile: OpenAI
// GET /v1/organization/costs, Anthropic GET /v1/organizations/cost_report with
// amounts in cents, an AWS Data Exports FOCUS 1.2 CSV for Bedrock). One day
// drifts — OpenAI billed $0.40 for gpt-4o where the ledger priced $0.35 — and
// raises reconciliation_drift; the others agree to the picodollar.
import type { NatsConnection } from "@nats-io/nats-core";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createProducer } from "../../pipeline/producer/producer.ts";
import type { CostlineEventInput } from "../../schemas/index.ts";
import { runCli } from "../helpers/cli-process.ts";
import { connectStack } from "../helpers/stack-nats.ts";
import { repoRoot, startStack, tempHome, waitFor, type StackProcess } from "../helpers/stack-process.ts";

let stack: StackProcess;
let nc: NatsConnection;
const fixture = (f: string) => path.join(repoRoot, "test", "fixtures", "reconcile", f);

function llm(id: string, time: string, provider: string, model: string, input: number, output: number): CostlineEventInput {
  return {
    specversion: "1.0",
    id,
    source: "test/reconcile",
    type: "costline.llm.usage",
    time,
    data: { tenant: "acme", provider, model, usage: { input_tokens: input, output_tokens: output } },
  };
}

const reconcile = async (...args: string[]) => {
  const r = await runCli(["reconcile", ...args], { COSTLINE_HOME: stack.home });
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as {
    run_id: string;
    drifting: number;
    rows: Record<string, unknown>[];
    billed_usd: string;
    ledger_usd: string;
  };
};

beforeAll(async () => {
  stack = await startStack(tempHome("costline-reconcile-"));
  nc = await connectStack(stack);
  const producer = await createProducer({ nc });
  await producer.publish([
    llm("o1", "2026-11-20T10:00:00Z", "openai", "gpt-4o-mini-2024-07-18", 1_000_000, 100_000), // 0.15 + 0.06 = 0.21
    llm("o2", "2026-11-21T09:00:00Z", "openai", "gpt-4o-2024-08-06", 100_000, 10_000), // 0.25 + 0.10 = 0.35
    llm("a1", "2026-11-20T12:00:00Z", "anthropic", "claude-sonnet-4-20250514", 100_000, 5000), // 0.30 + 0.075 = 0.375
    llm("b1", "2026-11-20T08:00:00Z", "bedrock", "us.anthropic.claude-sonnet-4-20250514-v1:0", 10_000, 1000), // 0.03 + 0.015 = 0.045
  ]);
  await waitFor("four ledger rows", async () => ((await stack.api<{ events: number }>("/v1/totals")).events === 4 ? true : undefined));
}, 180_000);
afterAll(async () => {
  await nc?.close();
  if (stack?.child.exitCode === null) await stack.stop();
});

describe("reconciling the ledger with the provider's bill", () => {
  it("OpenAI: one day agrees, the drifting day raises reconciliation_drift", async () => {
    const out = await reconcile("--file", fixture("openai-costs.json"));
    expect(out).toMatchObject({ billed_usd: "0.61", ledger_usd: "0.56", drifting: 1 });
    expect(out.rows).toEqual([
      expect.objectContaining({
        day: "2026-11-20",
        model: "gpt-4o-mini",
        billed_usd: "0.21",
        ledger_usd: "0.21",
        drift: 0,
        alerted: false,
      }),
      expect.objectContaining({
        day: "2026-11-21",
        model: "gpt-4o",
        bill_models: ["gpt-4o-2024-08-06"],
        projects: ["proj_hooks"],
        billed_usd: "0.4",
        ledger_usd: "0.35",
        diff_usd: "-0.05",
        drift: 0.125,
        alerted: true,
      }),
    ]);
    const alerts = await waitFor("the drift alert", async () => {
      const a = await stack.api<{ alerts: { type: string; scope_key: Record<string, string>; observed: string; expected: string }[] }>(
        "/v1/alerts",
      );
      const drift = a.alerts.filter((x) => x.type === "reconciliation_drift");
      return drift.length ? drift : undefined;
    });
    expect(alerts).toEqual([
      expect.objectContaining({ scope_key: { provider: "openai", model: "gpt-4o", day: "2026-11-21" }, observed: "0.35", expected: "0.4" }),
    ]);
    // The same file again: the same run, its rows stored once.
    expect((await reconcile("--file", fixture("openai-costs.json"))).run_id).toBe(out.run_id);
    const stored = await stack.sql<{ n: string }>(`SELECT toString(count()) AS n FROM costline.reconciliation WHERE provider = 'openai'`);
    expect(stored[0]!.n).toBe("2");
  });

  it("Anthropic's cost report (cents) and a Bedrock FOCUS export agree", async () => {
    const a = await reconcile("--file", fixture("anthropic-cost-report.json"));
    expect(a).toMatchObject({ billed_usd: "0.375", ledger_usd: "0.375", drifting: 0 });
    expect(a.rows).toEqual([expect.objectContaining({ day: "2026-11-20", model: "claude-sonnet-4-0", projects: ["wrkspc_01"], drift: 0 })]);
    const b = await reconcile("--file", fixture("aws-focus.csv"), "--threshold", "0.01");
    // The EC2 line is not Bedrock's and is left out.
    expect(b).toMatchObject({ billed_usd: "0.045", ledger_usd: "0.045", drifting: 0 });
    expect(b.rows).toEqual([
      expect.objectContaining({
        day: "2026-11-20",
        model: "regional.anthropic.claude-sonnet-4-20250514-v1:0",
        bill_models: ["us.anthropic.claude-sonnet-4-20250514-v1:0"],
        projects: ["123456789012"],
        drift: 0,
      }),
    ]);
  });

  it("refuses a file it cannot read, naming what it reads", async () => {
    const r = await runCli(["reconcile", "--file", path.join(repoRoot, "package.json")], { COSTLINE_HOME: stack.home });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/not an export costline reads/);
  });
});
