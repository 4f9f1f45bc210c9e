// Every rollup against the ledger: each rollup table's sums (rollupSpecs, the
// aggregations of the materialized views) next to the same aggregation over
// the ledger with FINAL, in total or per group of the rollup's keys. The
// tests that write the ledger by different paths (several writers, a repair
// after a crash, a migration over old rows) all end on this one check.
import type { ClickHouseClient } from "@clickhouse/client";
import { expect } from "vitest";
import { queryRows } from "../../pipeline/clickhouse/client.ts";
import { rollupSpecs } from "../../pipeline/ledger/rollup-repair.ts";

export interface RollupComparison {
  table: string;
  ledger: Record<string, string>[];
  rollup: Record<string, string>[];
}

export interface CompareOptions {
  /** Only these rollup tables (default: every one). */
  tables?: readonly string[];
  /** Per group of the rollup's keys (ordered by them) rather than one total row. */
  byGroup?: boolean;
}

/** A key as text: time keys as whole seconds, since a rollup's DateTime and the ledger's DateTime64 print differently. */
const keyText = (expr: string, isTime: boolean) => (isTime ? `toString(toDateTime(${expr}))` : `toString(${expr})`);

export async function compareRollups(client: ClickHouseClient, opts: CompareOptions = {}): Promise<RollupComparison[]> {
  const specs = rollupSpecs.filter((s) => !opts.tables || opts.tables.includes(s.table));
  expect(specs.length, "no such rollup").toBeGreaterThan(0);
  const out: RollupComparison[] = [];
  for (const spec of specs) {
    const keys = opts.byGroup ? spec.keys.map(([c, e]) => ({ c, e, isTime: /\btime\b/.test(e) })) : [];
    const groupBy = keys.length
      ? ` GROUP BY ${keys.map((k) => `k_${k.c}`).join(", ")} ORDER BY ${keys.map((k) => `k_${k.c}`).join(", ")}`
      : "";
    const select = (keyCols: string[], sums: string[]) => [...keyCols, ...sums].join(", ");
    const ledger = await queryRows<Record<string, string>>(
      client,
      `SELECT ${select(
        keys.map((k) => `${keyText(k.e, k.isTime)} AS k_${k.c}`),
        spec.sums.map(([c, e]) => `toString(${e}) AS s_${c}`),
      )} FROM costline.ledger FINAL${spec.where ? ` WHERE ${spec.where}` : ""}${groupBy}`,
    );
    const rollup = await queryRows<Record<string, string>>(
      client,
      `SELECT ${select(
        keys.map((k) => `${keyText(k.c, k.isTime)} AS k_${k.c}`),
        spec.sums.map(([c]) => `toString(sum(${c})) AS s_${c}`),
      )} FROM costline.${spec.table}${groupBy}`,
    );
    out.push({ table: spec.table, ledger, rollup });
  }
  return out;
}

/** Asserts that every rollup (or the named ones) equals the ledger; returns the comparisons. */
export async function expectRollupsMatchLedger(client: ClickHouseClient, opts: CompareOptions = {}): Promise<RollupComparison[]> {
  const all = await compareRollups(client, opts);
  for (const c of all) expect({ table: c.table, rows: c.rollup }).toEqual({ table: c.table, rows: c.ledger });
  return all;
}
