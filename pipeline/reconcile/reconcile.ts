// Compares a provider's bill with the ledger per day × model, writes the
// comparison to costline.reconciliation, and raises reconciliation_drift for
// every day × model whose ledger total is off the bill by more than the
// threshold (a share of the billed amount; a billed 0 against a ledger cost
// always drifts). Model names on the bill are resolved with the same matcher
// that priced the events, so "gpt-4o-2024-08-06" on the bill meets the
// ledger's "gpt-4o". A run is keyed by a hash of its input: importing the same
// file twice writes its rows and alerts once.
import { createHash } from "node:crypto";
import type { ClickHouseClient } from "@clickhouse/client";
import { insertIdempotent, queryRows } from "../clickhouse/client.ts";
import { alertRow } from "../alerts/alert-store-stage.ts";
import { PermanentError } from "../errors.ts";
import { Decimal, toMoney } from "../pricing/decimal.ts";
import { createModelResolver } from "../pricing/model-resolution.ts";
import { shippedOverlay } from "../pricing/price-overlay.ts";
import { alertSchema, type Alert } from "../../schemas/index.ts";
import type { Bill } from "./bill-formats.ts";

export interface ReconcileOptions {
  tenant?: string;
  threshold: number;
  now?: Date;
}

export interface ReconcileRow {
  day: string;
  model: string;
  bill_models: string[];
  projects: string[];
  billed_usd: string;
  ledger_usd: string;
  diff_usd: string;
  drift: number | null;
  alerted: boolean;
}

export interface ReconcileResult {
  run_id: string;
  format: string;
  provider: string;
  days: number;
  billed_usd: string;
  ledger_usd: string;
  threshold: number;
  drifting: number;
  rows: ReconcileRow[];
}

const NOT_A_MODEL = "(not a model)";

export async function reconcile(client: ClickHouseClient, bill: Bill, o: ReconcileOptions): Promise<ReconcileResult> {
  const foreign = bill.lines.find((l) => l.currency !== "USD");
  if (foreign) throw new PermanentError("validation", `the bill has amounts in ${foreign.currency}: only USD bills are compared`);
  if (bill.lines.length === 0) throw new PermanentError("validation", "the bill has no lines");
  const resolve = createModelResolver(10_000, shippedOverlay().models);
  const modelOf = (m: string) => (m ? (resolve(bill.provider, m)?.model.id ?? m.toLowerCase()) : NOT_A_MODEL);

  const groups = new Map<
    string,
    { day: string; model: string; billed: Decimal; ledger: Decimal; billModels: Set<string>; projects: Set<string> }
  >();
  const group = (day: string, model: string) => {
    const k = `${day}\u0000${model}`;
    let g = groups.get(k);
    if (!g) groups.set(k, (g = { day, model, billed: new Decimal(0), ledger: new Decimal(0), billModels: new Set(), projects: new Set() }));
    return g;
  };
  for (const l of bill.lines) {
    const g = group(l.day, modelOf(l.model));
    g.billed = g.billed.plus(l.amount);
    if (l.model) g.billModels.add(l.model);
    if (l.project) g.projects.add(l.project);
  }
  const days = [...new Set(bill.lines.map((l) => l.day))].sort();
  const ledger = await queryRows<{ d: string; model: string; cost: string }>(
    client,
    // The bill's days, this provider's LLM rows; FINAL: one row per event. No ORDER BY: grouped into a map.
    `SELECT toString(toDate(time)) AS d, model, toString(sum(ifNull(cost_usd, toDecimal128(0, 12)))) AS cost
     FROM costline.ledger FINAL
     WHERE kind = 'llm' AND provider = {provider:String} AND toDate(time) IN {days:Array(Date)}
       AND ({tenant:String} = '' OR tenant = {tenant:String})
     GROUP BY d, model`,
    { provider: bill.provider, days, tenant: o.tenant ?? "" },
  );
  for (const r of ledger) group(r.d, r.model).ledger = new Decimal(r.cost);

  const runId = `rc-${createHash("sha256")
    .update(JSON.stringify([bill.format, bill.provider, o.tenant ?? "", o.threshold, bill.lines]))
    .digest("hex")
    .slice(0, 24)}`;
  const now = o.now ?? new Date();
  const rows: ReconcileRow[] = [...groups.values()]
    // Sorted for a stable report: by day, then model.
    .sort((a, b) => a.day.localeCompare(b.day) || a.model.localeCompare(b.model))
    .map((g) => {
      const diff = g.ledger.minus(g.billed);
      const drift = g.billed.isZero() ? (diff.isZero() ? 0 : null) : diff.abs().dividedBy(g.billed).toNumber();
      return {
        day: g.day,
        model: g.model,
        bill_models: [...g.billModels].sort(),
        projects: [...g.projects].sort(),
        billed_usd: toMoney(g.billed),
        ledger_usd: toMoney(g.ledger),
        diff_usd: toMoney(diff),
        drift,
        alerted: drift === null || drift > o.threshold,
      };
    });

  await insertIdempotent(
    client,
    "costline.reconciliation",
    rows.map((r) => ({
      run_id: runId,
      file_format: bill.format,
      provider: bill.provider,
      tenant: o.tenant ?? "",
      ...r,
      threshold: o.threshold,
    })),
    [runId],
  );
  const alerts = rows.filter((r) => r.alerted).map((r) => driftAlert(bill.provider, o.tenant, r, o.threshold, now));
  if (alerts.length)
    await insertIdempotent(
      client,
      "costline.alerts",
      alerts.map(alertRow),
      alerts.map((a) => a.id),
    );
  const sum = (f: (r: ReconcileRow) => string) => toMoney(rows.reduce((s, r) => s.plus(f(r)), new Decimal(0)));
  return {
    run_id: runId,
    format: bill.format,
    provider: bill.provider,
    days: days.length,
    billed_usd: sum((r) => r.billed_usd),
    ledger_usd: sum((r) => r.ledger_usd),
    threshold: o.threshold,
    drifting: alerts.length,
    rows,
  };
}

function driftAlert(provider: string, tenant: string | undefined, r: ReconcileRow, threshold: number, now: Date): Alert {
  const id = createHash("sha256")
    .update(`reconciliation_drift\u0000${provider}\u0000${tenant ?? ""}\u0000${r.day}\u0000${r.model}`)
    .digest("hex")
    .slice(0, 32);
  const start = `${r.day}T00:00:00.000Z`;
  const share = r.drift === null ? "all of it" : `${(r.drift * 100).toFixed(2)} %`;
  return alertSchema.parse({
    id,
    fingerprint: id,
    type: "reconciliation_drift",
    severity: "high",
    status: "firing",
    tenant: tenant ?? "*",
    scope: "model",
    scope_key: { provider, model: r.model, day: r.day },
    observed: r.ledger_usd,
    expected: r.billed_usd,
    multiplier: r.drift === null ? null : new Decimal(r.ledger_usd).dividedBy(r.billed_usd).toNumber(),
    score: r.drift,
    window_start: start,
    window_end: new Date(Date.parse(start) + 86_400_000).toISOString(),
    first_seen: start,
    detected_at: now.toISOString(),
    message: `${provider} billed ${r.billed_usd} USD for ${r.model} on ${r.day}; the ledger has ${r.ledger_usd} USD (off by ${r.diff_usd}, ${share}; threshold ${(threshold * 100).toFixed(2)} %).`,
    evidence: { by_model: [], by_operation: [], by_post: [], by_user: [], baseline: "the provider's bill" },
  });
}
