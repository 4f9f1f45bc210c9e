// Re-prices the LLM events of a period with the prices in force at each
// event's time (the newest catalog, overlay and library), and writes the
// corrections so every reader agrees exactly:
//   1. each changed event into costline.reprice_corrections (old, new, delta);
//   2. into every rollup (rollupSpecs, the materialized views' aggregations)
//      one row per group holding the delta and zero counts — the rollups sum
//      their rows, so the group's total becomes the new amount exactly;
//   3. the ledger rows themselves, by a synchronous mutation (a mutation fires
//      no materialized view, so the rollups are not counted twice): totals,
//      budget spend and audits read the ledger;
//   4. one audit row in costline.reprice_runs.
// The run id is a hash of what it changes, and every insert carries it as its
// deduplication token: a run cut short and started again makes the same
// writes once, and a run after a complete one finds nothing to change.
import { createHash } from "node:crypto";
import type { ClickHouseClient } from "@clickhouse/client";
import type { Config } from "../config/config.ts";
import { insertIdempotent, queryRows } from "../clickhouse/client.ts";
import { pricerForCatalog } from "../catalog/catalog-pricer.ts";
import { createCatalogStore } from "../catalog/catalog-store.ts";
import { chTime, tenantEventKey } from "../ledger/ledger-row.ts";
import { rollupSpecs } from "../ledger/rollup-repair.ts";
import { Decimal, toMoney } from "../pricing/decimal.ts";
import { costlineEvent } from "../../schemas/index.ts";

export interface RepriceRequest {
  from: Date;
  to: Date;
  tenant?: string;
  model?: string;
  dryRun: boolean;
  actor: string;
  reason: string;
}

export interface RepriceChange {
  tenant: string;
  source: string;
  event_id: string;
  time: string;
  model: string;
  old_cost_usd: string;
  new_cost_usd: string;
  delta_usd: string;
  old_catalog_version: string;
}

export interface RepriceResult {
  run_id: string;
  dry_run: boolean;
  events: number;
  changed_events: number;
  /** Events the current prices cannot price (their stored cost is kept). */
  unpriceable_events: number;
  old_total_usd: string;
  new_total_usd: string;
  delta_usd: string;
  catalog_version: string;
  old_catalog_versions: string[];
  /** The first changes, for a person to check before confirming. */
  sample: RepriceChange[];
  written: boolean;
}

interface LedgerLlmRow {
  event_id: string;
  source: string;
  time_s: string;
  tenant: string;
  provider: string;
  model: string;
  model_requested: string;
  usage: Record<string, number>;
  batch: boolean | number;
  cost_s: string;
  price_source: string;
  price_version: string;
  catalog_version: string;
  components: string;
}

interface Correction extends RepriceChange {
  price_source: string;
  price_version: string;
  catalog_version: string;
  components: string;
}

const MAX_EVENTS = 1_000_000;

export async function reprice(
  client: ClickHouseClient,
  config: Pick<Config, "pricing" | "rateCards">,
  req: RepriceRequest,
): Promise<RepriceResult> {
  const catalog = pricerForCatalog(config, await createCatalogStore(client).rows());
  const rows = await queryRows<LedgerLlmRow>(
    client,
    // Priced LLM rows of the period; FINAL: one row per event. No ORDER BY needed: the changes are keyed, not ordered.
    `SELECT event_id, source, toString(time) AS time_s, tenant, provider, model, model_requested, usage, batch,
            toString(cost_usd) AS cost_s, price_source, price_version, catalog_version, components
     FROM costline.ledger FINAL
     WHERE kind = 'llm' AND priced AND time >= {from:DateTime64(3, 'UTC')} AND time < {to:DateTime64(3, 'UTC')}
       AND ({tenant:String} = '' OR tenant = {tenant:String})
       AND ({model:String} = '' OR model = {model:String} OR model_requested = {model:String})
     LIMIT {limit:UInt64}`,
    {
      from: chTime(req.from.toISOString()),
      to: chTime(req.to.toISOString()),
      tenant: req.tenant ?? "",
      model: req.model ?? "",
      limit: MAX_EVENTS + 1,
    },
  );
  if (rows.length > MAX_EVENTS)
    throw new RangeError(`more than ${MAX_EVENTS} events in the range: re-price it in parts (--from/--to, --tenant)`);

  let oldTotal = new Decimal(0);
  let newTotal = new Decimal(0);
  let unpriceable = 0;
  const changes: Correction[] = [];
  const oldVersions = new Set<string>();
  for (const r of rows) {
    oldTotal = oldTotal.plus(r.cost_s);
    const priced = priceAgain(catalog.toPriced, r);
    if (!priced || priced.cost_usd === null) {
      unpriceable++;
      newTotal = newTotal.plus(r.cost_s);
      continue;
    }
    newTotal = newTotal.plus(priced.cost_usd);
    const delta = new Decimal(priced.cost_usd).minus(r.cost_s);
    const components = JSON.stringify(priced.components);
    // Only a different amount is a correction: the same amount under another name stays as it was billed.
    if (delta.isZero()) continue;
    oldVersions.add(r.catalog_version || `${r.price_source}@${r.price_version}`);
    changes.push({
      tenant: r.tenant,
      source: r.source,
      event_id: r.event_id,
      time: r.time_s,
      model: r.model,
      old_cost_usd: toMoney(r.cost_s),
      new_cost_usd: priced.cost_usd,
      delta_usd: toMoney(delta),
      old_catalog_version: r.catalog_version,
      price_source: priced.price_source,
      price_version: priced.price_version,
      catalog_version: priced.catalog_version ?? catalog.versionString,
      components,
    });
  }
  const runId = runIdOf(req, catalog.versionString, changes);
  const result: RepriceResult = {
    run_id: runId,
    dry_run: req.dryRun,
    events: rows.length,
    changed_events: changes.length,
    unpriceable_events: unpriceable,
    old_total_usd: toMoney(oldTotal),
    new_total_usd: toMoney(newTotal),
    delta_usd: toMoney(newTotal.minus(oldTotal)),
    catalog_version: catalog.versionString,
    old_catalog_versions: [...oldVersions].sort(),
    sample: changes.slice(0, 20).map(({ price_source: _s, price_version: _v, catalog_version: _c, components: _p, ...c }) => c),
    written: false,
  };
  if (req.dryRun || changes.length === 0) return result;
  await writeCorrections(client, runId, changes);
  await insertIdempotent(
    client,
    "costline.reprice_runs",
    [
      {
        run_id: runId,
        started_at: chTime(new Date().toISOString()),
        actor: req.actor,
        reason: req.reason,
        range_from: chTime(req.from.toISOString()),
        range_to: chTime(req.to.toISOString()),
        tenant: req.tenant ?? "",
        model: req.model ?? "",
        events: rows.length,
        changed_events: changes.length,
        old_total_usd: result.old_total_usd,
        new_total_usd: result.new_total_usd,
        old_catalog_versions: result.old_catalog_versions,
        new_catalog_version: catalog.versionString,
      },
    ],
    [runId],
  );
  return { ...result, written: true };
}

/** The stored event rebuilt as its producer sent it, priced again. */
function priceAgain(toPriced: ReturnType<typeof pricerForCatalog>["toPriced"], r: LedgerLlmRow) {
  const at = new Date(`${r.time_s.replace(" ", "T")}Z`);
  const attempt = (model: string) => {
    const parsed = costlineEvent.safeParse({
      specversion: "1.0",
      id: r.event_id,
      source: r.source,
      type: "costline.llm.usage",
      time: at.toISOString(),
      data: { tenant: r.tenant, provider: r.provider, model, usage: r.usage, batch: Boolean(r.batch) },
    });
    if (!parsed.success) return undefined;
    try {
      const p = toPriced(parsed.data, at);
      return p.priced ? p : undefined;
    } catch {
      return undefined; // usage the current prices refuse: the stored cost stands
    }
  };
  // The id the producer sent first (aliases and dated ids resolve from it), else the catalog's id.
  return (r.model_requested ? attempt(r.model_requested) : undefined) ?? attempt(r.model);
}

function runIdOf(req: RepriceRequest, catalogVersion: string, changes: readonly Correction[]): string {
  const h = createHash("sha256");
  h.update([req.from.toISOString(), req.to.toISOString(), req.tenant ?? "", req.model ?? "", catalogVersion].join("\u0001"));
  for (const c of changes) h.update(`\u0002${c.tenant}\u0000${c.source}\u0000${c.event_id}\u0000${c.old_cost_usd}\u0000${c.new_cost_usd}`);
  return `rp-${h.digest("hex").slice(0, 24)}`;
}

async function writeCorrections(client: ClickHouseClient, runId: string, changes: readonly Correction[]): Promise<void> {
  await insertIdempotent(
    client,
    "costline.reprice_corrections",
    changes.map((c) => ({
      run_id: runId,
      tenant: c.tenant,
      source: c.source,
      event_id: c.event_id,
      time: c.time,
      old_cost_usd: c.old_cost_usd,
      new_cost_usd: c.new_cost_usd,
      delta_usd: c.delta_usd,
      old_catalog_version: c.old_catalog_version,
      new_catalog_version: c.catalog_version,
    })),
    [runId],
  );
  // Rollups before the ledger: if the run stops in between, the ledger still
  // shows the old amounts, the same run id comes out again, and these inserts
  // are dropped as duplicates.
  for (const spec of rollupSpecs) await client.command({ query: rollupDeltaSql(spec, runId), query_params: { run: runId } });
  await updateLedger(client, changes);
}

/** INSERT … SELECT of one rollup's delta rows for a run: the groups' keys from the ledger, the cost delta, zero counts. */
export function rollupDeltaSql(spec: (typeof rollupSpecs)[number], runId: string): string {
  const keyCols = spec.keys.map(([c]) => c);
  const sums = spec.sums.map(([c]) => (c === "cost_usd" ? "sum(delta_usd) AS cost_usd" : `0 AS ${c}`));
  const extremes = (spec.extremes ?? []).map(([c, e]) => `${e} AS ${c}`);
  const cols = [...keyCols, ...spec.sums.map(([c]) => c), ...(spec.extremes ?? []).map(([c]) => c)];
  const token = createHash("sha256").update(`${runId}\u0000${spec.table}`).digest("hex");
  return (
    `INSERT INTO costline.${spec.table} (${cols.join(", ")}) ` +
    `SETTINGS insert_deduplication_token = '${token}' ` +
    `SELECT ${[...spec.keys.map(([c, e]) => `${e} AS ${c}`), ...sums, ...extremes].join(", ")} FROM (` +
    `SELECT l.*, c.delta_usd AS delta_usd FROM costline.ledger AS l FINAL ` +
    `INNER JOIN (SELECT tenant, source, event_id, delta_usd FROM costline.reprice_corrections WHERE run_id = {run:String}) AS c ` +
    `ON l.tenant = c.tenant AND l.source = c.source AND l.event_id = c.event_id)` +
    `${spec.where ? ` WHERE ${spec.where}` : ""} GROUP BY ${keyCols.join(", ")}`
  );
}

async function updateLedger(client: ClickHouseClient, changes: readonly Correction[]): Promise<void> {
  // One mutation per slice: the keys and new values travel as bound arrays.
  for (let i = 0; i < changes.length; i += 10_000) {
    const part = changes.slice(i, i + 10_000);
    // Tenant, source and id, as the ledger's key (`concat` below spells tenantEventKey): two tenants' events may share a source and an id.
    await client.command({
      query: `ALTER TABLE costline.ledger UPDATE
          cost_usd = toDecimal128(transform(concat(tenant, '\\0', source, '\\0', event_id), {keys:Array(String)}, {costs:Array(String)}, ifNull(toString(cost_usd), '0')), 12),
          price_source = transform(concat(tenant, '\\0', source, '\\0', event_id), {keys:Array(String)}, {sources:Array(String)}, toString(price_source)),
          price_version = transform(concat(tenant, '\\0', source, '\\0', event_id), {keys:Array(String)}, {versions:Array(String)}, toString(price_version)),
          catalog_version = transform(concat(tenant, '\\0', source, '\\0', event_id), {keys:Array(String)}, {catalogs:Array(String)}, toString(catalog_version)),
          components = transform(concat(tenant, '\\0', source, '\\0', event_id), {keys:Array(String)}, {components:Array(String)}, components)
        WHERE tenant IN {tenants:Array(String)} AND concat(tenant, '\\0', source, '\\0', event_id) IN {keys:Array(String)}
        SETTINGS mutations_sync = 2`,
      query_params: {
        keys: part.map(tenantEventKey),
        costs: part.map((c) => c.new_cost_usd),
        sources: part.map((c) => c.price_source),
        versions: part.map((c) => c.price_version),
        catalogs: part.map((c) => c.catalog_version),
        components: part.map((c) => c.components),
        tenants: [...new Set(part.map((c) => c.tenant))],
      },
    });
  }
}

export async function repriceRuns(client: ClickHouseClient, limit = 100): Promise<Record<string, unknown>[]> {
  return queryRows(
    client,
    // ORDER BY: newest run first.
    `SELECT run_id, toString(started_at) AS started_at, actor, reason, toString(range_from) AS range_from, toString(range_to) AS range_to,
            tenant, model, toString(events) AS events, toString(changed_events) AS changed_events, toString(old_total_usd) AS old_total_usd, toString(new_total_usd) AS new_total_usd,
            old_catalog_versions, new_catalog_version
     FROM costline.reprice_runs ORDER BY started_at DESC LIMIT {limit:UInt32}`,
    { limit },
  );
}
