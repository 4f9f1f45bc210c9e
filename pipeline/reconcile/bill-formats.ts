// Reads a provider's cost export into bill lines (day, model, project, amount):
//   openai     GET /v1/organization/costs (group_by=line_item,project_id) as saved JSON:
//              {data: [{start_time, results: [{amount: {value, currency}, line_item: "gpt-4o-2024-08-06, input", project_id}]}]}
//   anthropic  GET /v1/organizations/cost_report (group_by=description,workspace_id) as saved JSON:
//              {data: [{starting_at, results: [{amount: "123.45" (cents), currency, model, workspace_id, …}]}]}
//   focus      a FOCUS 1.x CSV (AWS Data Exports "FOCUS 1.2 with AWS columns"): ChargePeriodStart, BilledCost,
//              BillingCurrency, ServiceName, ResourceId (the Bedrock model's ARN), x_UsageType
//   cur        an AWS CUR 2.0 CSV: line_item_usage_start_date, line_item_product_code, line_item_resource_id,
//              line_item_unblended_cost, line_item_currency_code, line_item_usage_type
// Amounts stay decimal strings; the float the OpenAI API returns is read from its JSON text as written.
import { PermanentError } from "../errors.ts";
import { Decimal, toMoney } from "../pricing/decimal.ts";

export type BillFormat = "openai" | "anthropic" | "focus" | "cur";

export interface BillLine {
  day: string;
  /** The model as the bill names it ("" for charges that are not a model's). */
  model: string;
  project: string;
  amount: string;
  currency: string;
}

export interface Bill {
  format: BillFormat;
  provider: "openai" | "anthropic" | "aws";
  lines: BillLine[];
}

const dayOf = (t: string | number) => new Date(typeof t === "number" ? t * 1000 : t).toISOString().slice(0, 10);

export function detectFormat(text: string): BillFormat {
  const t = text.trimStart();
  if (t.startsWith("{")) {
    if (/"organization\.costs\.result"|"start_time"/.test(t)) return "openai";
    if (/"starting_at"/.test(t)) return "anthropic";
  }
  const header = t.slice(0, t.indexOf("\n") >>> 0);
  if (/ChargePeriodStart/.test(header) && /BilledCost/.test(header)) return "focus";
  if (/line_item_usage_start_date/.test(header)) return "cur";
  throw new PermanentError(
    "validation",
    "not an export costline reads: OpenAI organization costs or Anthropic cost report JSON, or a FOCUS / CUR 2.0 CSV",
  );
}

export function parseBill(text: string, format: BillFormat = detectFormat(text)): Bill {
  switch (format) {
    case "openai":
      return { format, provider: "openai", lines: openAi(text) };
    case "anthropic":
      return { format, provider: "anthropic", lines: anthropic(text) };
    case "focus":
      return { format, provider: "aws", lines: awsCsv(text, focusColumns) };
    case "cur":
      return { format, provider: "aws", lines: awsCsv(text, curColumns) };
  }
}

/** JSON.parse keeping every number as its source text, so 0.1 + 0.2 is never a float sum. */
function parseExact(text: string): unknown {
  return JSON.parse(text.replace(/("value"\s*:\s*)(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)/g, '$1"$2"'));
}

function openAi(text: string): BillLine[] {
  const doc = parseExact(text) as {
    data?: {
      start_time: number;
      results?: { amount?: { value: string; currency?: string }; line_item?: string | null; project_id?: string | null }[];
    }[];
  };
  if (!Array.isArray(doc.data)) throw new PermanentError("validation", "OpenAI costs export: no data array");
  return doc.data.flatMap((bucket) =>
    (bucket.results ?? []).map((r) => ({
      day: dayOf(bucket.start_time),
      // "gpt-4o-2024-08-06, input" → the model; line items that are not a model's ("Image models") stay as named.
      model: (r.line_item ?? "").split(",")[0]!.trim(),
      project: r.project_id ?? "",
      amount: toMoney(new Decimal(r.amount?.value ?? "0")),
      currency: (r.amount?.currency ?? "usd").toUpperCase(),
    })),
  );
}

function anthropic(text: string): BillLine[] {
  const doc = JSON.parse(text) as {
    data?: {
      starting_at: string;
      results?: { amount: string; currency?: string; model?: string | null; workspace_id?: string | null }[];
    }[];
  };
  if (!Array.isArray(doc.data)) throw new PermanentError("validation", "Anthropic cost report: no data array");
  return doc.data.flatMap((bucket) =>
    (bucket.results ?? []).map((r) => ({
      day: dayOf(bucket.starting_at),
      model: r.model ?? "",
      project: r.workspace_id ?? "",
      // The report's amounts are in cents (its lowest currency unit), as decimal strings.
      amount: toMoney(new Decimal(r.amount).dividedBy(100)),
      currency: (r.currency ?? "USD").toUpperCase(),
    })),
  );
}

interface AwsColumns {
  start: string;
  cost: string;
  currency: string;
  service: string;
  serviceMatch: RegExp;
  resource: string;
  usageType: string;
  account: string;
}
const focusColumns: AwsColumns = {
  start: "ChargePeriodStart",
  cost: "BilledCost",
  currency: "BillingCurrency",
  service: "ServiceName",
  serviceMatch: /bedrock/i,
  resource: "ResourceId",
  usageType: "x_UsageType",
  account: "SubAccountId",
};
const curColumns: AwsColumns = {
  start: "line_item_usage_start_date",
  cost: "line_item_unblended_cost",
  currency: "line_item_currency_code",
  service: "line_item_product_code",
  serviceMatch: /bedrock/i,
  resource: "line_item_resource_id",
  usageType: "line_item_usage_type",
  account: "line_item_usage_account_id",
};

/** The Bedrock model of an ARN (…:foundation-model/anthropic.claude-…, …:inference-profile/us.anthropic.claude-…). */
export function bedrockModel(resource: string, usageType: string): string {
  const m = /(?:foundation-model|inference-profile|provisioned-model)\/([^/\s]+)$/.exec(resource);
  return m ? m[1]! : resource || usageType;
}

function awsCsv(text: string, cols: AwsColumns): BillLine[] {
  const rows = parseCsv(text);
  const header = rows.shift() ?? [];
  const at = (name: string) => header.indexOf(name);
  const idx = { start: at(cols.start), cost: at(cols.cost), currency: at(cols.currency), service: at(cols.service) };
  for (const [k, i] of Object.entries(idx))
    if (i < 0) throw new PermanentError("validation", `CSV export: no ${k} column (${JSON.stringify(cols)})`);
  const resource = at(cols.resource);
  const usage = at(cols.usageType);
  const account = at(cols.account);
  return rows
    .filter((r) => r.length > 1 && cols.serviceMatch.test(r[idx.service] ?? ""))
    .map((r) => ({
      day: dayOf((r[idx.start] ?? "").replace(" ", "T").replace(/(T\d{2}:\d{2}:\d{2}(?:\.\d+)?)$/, "$1Z")),
      model: bedrockModel(resource >= 0 ? (r[resource] ?? "") : "", usage >= 0 ? (r[usage] ?? "") : ""),
      project: account >= 0 ? (r[account] ?? "") : "",
      amount: toMoney(new Decimal(r[idx.cost] || "0")),
      currency: (r[idx.currency] || "USD").toUpperCase(),
    }));
}

/** RFC 4180: quoted fields, doubled quotes, CRLF or LF line ends. */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = "";
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else field += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ",") {
      row.push(field);
      field = "";
    } else if (ch === "\n" || ch === "\r") {
      if (ch === "\r" && text[i + 1] === "\n") i++;
      row.push(field);
      rows.push(row);
      row = [];
      field = "";
    } else field += ch;
  }
  if (field || row.length) {
    row.push(field);
    rows.push(row);
  }
  return rows;
}
