// The FOCUS 1.2 export of a running stack: its columns and their types checked
// against the specification's column list (test/fixtures, read from the spec's
// column pages), its BilledCost total against `costline totals`, CSV from the
// API and Parquet (written by ClickHouse) from `costline export focus`.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import path from "node:path";
import { Decimal } from "decimal.js";
import { connectStack } from "../helpers/stack-nats.ts";
import type { NatsConnection } from "@nats-io/nats-core";
import { createProducer } from "../../pipeline/producer/producer.ts";
import type { CostlineEventInput } from "../../schemas/index.ts";
import { repoRoot, startStack, tempHome, waitFor, type StackProcess } from "../helpers/stack-process.ts";
import { runCli } from "../helpers/cli-process.ts";

interface SpecColumn {
  name: string;
  dataType: "Decimal" | "String" | "Date/Time" | "JSON";
  featureLevel: string;
  allowsNulls: string | null;
}
const spec = JSON.parse(readFileSync(path.join(repoRoot, "test/fixtures/focus-1.2-columns.json"), "utf8")) as { columns: SpecColumn[] };
const specByName = new Map(spec.columns.map((c) => [c.name, c]));

let stack: StackProcess;
let nc: NatsConnection;
let acmeKey: string;
const FROM = "2026-11-20T00:00:00Z";
const TO = "2026-11-21T00:00:00Z";

const llm = (id: string, tenant: string, time: string, model: string, extra: Record<string, unknown> = {}): CostlineEventInput => ({
  specversion: "1.0",
  id,
  source: "test/focus",
  type: "costline.llm.usage",
  time,
  data: {
    tenant,
    provider: "openai",
    model,
    usage: { input_tokens: 1000, output_tokens: 500 },
    feature: "hooks",
    persona_id: "p1",
    ...extra,
  },
});

/** RFC 4180 CSV, as ClickHouse writes it. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = "";
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else cell += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ",") {
      row.push(cell);
      cell = "";
    } else if (ch === "\n") {
      row.push(cell);
      rows.push(row);
      row = [];
      cell = "";
    } else cell += ch;
  }
  if (cell !== "" || row.length) {
    row.push(cell);
    rows.push(row);
  }
  return rows;
}

const csvValue: Record<SpecColumn["dataType"], RegExp> = {
  Decimal: /^-?\d+(\.\d+)?$/,
  String: /^.+$/s,
  "Date/Time": /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/,
  JSON: /^\{.*\}$/s,
};

beforeAll(async () => {
  stack = await startStack(tempHome(), { COSTLINE_EXPORT_MAX_ROWS: "4" });
  nc = await connectStack(stack, "operator");
  const producer = await createProducer({ nc });
  await producer.publish([
    llm("a1", "acme", "2026-11-20T10:05:00Z", "gpt-4o"),
    llm("a2", "acme", "2026-11-20T10:35:00Z", "gpt-4o"),
    llm("a3", "acme", "2026-11-20T11:10:00Z", "gpt-4o-mini", { feature: "replies" }),
    llm("a4", "acme", "2026-11-19T23:59:00Z", "gpt-4o"), // before the range
    llm("g1", "globex", "2026-11-20T10:30:00Z", "gpt-4o"),
    llm("g2", "globex", "2026-11-20T12:30:00Z", "gpt-4o"),
    {
      specversion: "1.0",
      id: "i1",
      source: "test/focus",
      type: "costline.infra.usage",
      time: "2026-11-20T10:40:00Z",
      data: { tenant: "acme", resource: "cpu", quantity: 1000, unit: "core_second", service: "render" },
    },
  ]);
  await waitFor("ledger rows", async () => ((await stack.api<{ events: number }>("/v1/totals")).events === 7 ? true : undefined));
  const res = await fetch(`${stack.info.api_url}/v1/admin/keys`, {
    method: "POST",
    headers: { authorization: `Bearer ${stack.adminKey}`, "content-type": "application/json" },
    body: JSON.stringify({ tenant: "acme" }),
  });
  acmeKey = ((await res.json()) as { key: string }).key;
});
afterAll(async () => {
  await nc?.close();
  if (stack?.child.exitCode === null) await stack.stop();
});

const cliEnv = () => ({ COSTLINE_HOME: stack.home, COSTLINE_API_KEY: acmeKey });

describe("FOCUS export", () => {
  it("has every mandatory FOCUS 1.2 column, only spec columns (or x_ ones), values of the spec's types, and costline's totals", async () => {
    const res = await fetch(`${stack.info.api_url}/v1/exports/focus?from=${FROM}&to=${TO}&format=csv`, {
      headers: { authorization: `Bearer ${acmeKey}` },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/csv/);
    const [header, ...rows] = parseCsv(await res.text());
    for (const c of spec.columns.filter((c) => c.featureLevel === "Mandatory")) expect(header, c.name).toContain(c.name);
    for (const name of header!) expect(specByName.has(name) || name.startsWith("x_"), `${name} is a FOCUS 1.2 column`).toBe(true);
    expect(rows.length).toBe(3); // acme: gpt-4o hour 10, gpt-4o-mini hour 11, infra hour 10
    for (const row of rows) {
      header!.forEach((name, i) => {
        const col = specByName.get(name);
        if (!col) return;
        const v = row[i]!;
        if (v === "") expect(col.allowsNulls, `${name} may be null`).toBe("True");
        else expect(v, `${name} is a ${col.dataType}`).toMatch(csvValue[col.dataType]);
      });
      const get = (n: string) => row[header!.indexOf(n)]!;
      expect(get("BillingAccountId")).toBe("acme");
      expect(get("BillingCurrency")).toBe("USD");
      expect(JSON.parse(get("Tags"))).toMatchObject({ "costline.kind": expect.stringMatching(/^(llm|infra)$/) });
      expect(Date.parse(get("ChargePeriodEnd")) - Date.parse(get("ChargePeriodStart"))).toBe(3_600_000);
    }
    const billed = rows.reduce((s, r) => s.plus(r[header!.indexOf("BilledCost")]!), new Decimal(0));
    const totals = await runCli(["totals", "--tenant", "acme", "--from", FROM, "--to", TO], cliEnv());
    expect(totals.code, totals.stderr).toBe(0);
    expect(billed.equals(JSON.parse(totals.stdout).cost_usd)).toBe(true);
  });

  it("writes Parquet through `costline export focus`, typed as the spec says", async () => {
    const file = path.join(stack.home, "acme.parquet");
    const r = await runCli(["export", "focus", "--from", FROM, "--to", TO, "--format", "parquet", "--output", file], cliEnv());
    expect(r.code, r.stderr).toBe(0);
    const bytes = readFileSync(file);
    expect(bytes.subarray(0, 4).toString()).toBe("PAR1");
    // Read it back with the ClickHouse engine in this process (its own, stateless session).
    const { query } = await import("chdb");
    const described = query(`DESCRIBE file('${file}', Parquet)`, "JSONEachRow")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { name: string; type: string });
    const typeOf = new Map(described.map((d) => [d.name, d.type.replace(/^Nullable\((.*)\)$/, "$1")]));
    const want: Record<SpecColumn["dataType"], RegExp> = {
      Decimal: /^Decimal/,
      String: /^String$/,
      "Date/Time": /^DateTime/,
      JSON: /^String$/,
    };
    for (const [name, type] of typeOf) {
      const col = specByName.get(name);
      if (col) expect(type, `${name} (${col.dataType})`).toMatch(want[col.dataType]);
    }
    const [sum] = query(`SELECT toString(sum(BilledCost)) AS s FROM file('${file}', Parquet)`, "JSONEachRow")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { s: string });
    const totals = await runCli(["totals", "--tenant", "acme", "--from", FROM, "--to", TO], cliEnv());
    expect(new Decimal(sum!.s).equals(JSON.parse(totals.stdout).cost_usd)).toBe(true);
  });

  it("keeps a tenant key to its tenant, and refuses unbounded or oversized exports", async () => {
    const get = (q: string, key: string) =>
      fetch(`${stack.info.api_url}/v1/exports/focus?${q}`, { headers: { authorization: `Bearer ${key}` } });
    expect((await get(`from=${FROM}&to=${TO}&tenant=globex`, acmeKey)).status).toBe(403);
    expect((await get(`from=${FROM}`, acmeKey)).status).toBe(400);
    expect((await get(`from=2024-01-01T00:00:00Z&to=${TO}`, acmeKey)).status).toBe(400);
    // Every tenant: 5 rows, more than COSTLINE_EXPORT_MAX_ROWS=4.
    const all = await get(`from=${FROM}&to=${TO}`, stack.adminKey);
    expect(all.status).toBe(400);
    expect(((await all.json()) as { error: string }).error).toMatch(/narrower range/);
  });
});
