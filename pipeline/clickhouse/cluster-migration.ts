// The cluster form of the migrations (COSTLINE_CLICKHOUSE_CLUSTER=<name>),
// derived from the single-server files so the two never drift:
//
// - every DDL runs ON CLUSTER, so each node gets it;
// - each table becomes <name>_local, a Replicated* table (its keeper path
//   per shard, one replica per node), plus <name> itself, a Distributed table
//   over the _local ones that every read and insert of the pipeline uses
//   unchanged;
// - rows are sharded by the first column of the table's ORDER BY (the tenant
//   for the ledger and its rollups, the key id for API keys): rows that share
//   a sort key land on one shard, so ReplacingMergeTree and SummingMergeTree
//   still collapse them and FINAL stays exact;
// - materialized views read and write the _local tables: an insert into the
//   Distributed ledger reaches a shard's ledger_local, and that shard's views
//   fill its rollups, which the Distributed rollup tables read across shards.
//
// A statement this does not know how to carry over is an error, so a new
// migration cannot silently run single-server DDL on a cluster.
import { CostlineError } from "../errors.ts";

export class ClusterMigrationError extends CostlineError {}

const CLUSTER_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const CREATE_DATABASE = /^CREATE DATABASE IF NOT EXISTS costline$/i;
const CREATE_TABLE =
  /^CREATE TABLE IF NOT EXISTS costline\.([a-z_]+)\s*\(([\s\S]*)\)\s*ENGINE\s*=\s*([A-Za-z]*MergeTree)(?:\(([^)]*)\))?([\s\S]*)$/;
const CREATE_VIEW = /^CREATE MATERIALIZED VIEW IF NOT EXISTS costline\.([a-z_]+)\s+TO\s+costline\.([a-z_]+)\s+AS\s+([\s\S]*)$/i;
const ALTER_TABLE = /^ALTER TABLE costline\.([a-z_]+)\s+([\s\S]*)$/i;
const ORDER_BY = /\bORDER BY\s+(\(?\s*([A-Za-z_][A-Za-z0-9_]*))/i;
/** Replicated tables deduplicate retried inserts themselves (replicated_deduplication_window): this setting is for plain MergeTree. */
const NON_REPLICATED_DEDUP = /\s*non_replicated_deduplication_window\s*=\s*\d+\s*,?/gi;
const COLUMN_ALTER = /^(ADD|DROP|MODIFY|RENAME|COMMENT)\s+COLUMN\b/i;
/** A backfill: INSERT INTO costline.<table> (…) SELECT … FROM costline.… */
const INSERT_SELECT = /^INSERT INTO costline\.([a-z_]+)\s*\([^)]*\)\s*SELECT\b[\s\S]*$/i;

export const localTable = (name: string) => `${name}_local`;

/** The keeper path of a replicated table: one per shard, the same on every replica of it. */
const replicaPath = (table: string) => `'/clickhouse/tables/{shard}/costline/${table}', '{replica}'`;

function checkName(cluster: string): string {
  if (!CLUSTER_NAME.test(cluster)) throw new ClusterMigrationError(`not a ClickHouse cluster name: ${JSON.stringify(cluster)}`);
  return cluster;
}

/** Drops the single-server deduplication setting, and SETTINGS itself when nothing is left in it. */
function replicatedTail(tail: string): string {
  return tail
    .replace(NON_REPLICATED_DEDUP, "")
    .replace(/\bSETTINGS\s*$/i, "")
    .replace(/,\s*$/, "")
    .trimEnd();
}

/** The migrations' bookkeeping table: replicated on every node of the cluster (no shard in its path), not distributed. */
export function clusterSchemaMigrationsTable(cluster: string): string {
  return `CREATE TABLE IF NOT EXISTS costline.schema_migrations ON CLUSTER ${checkName(cluster)} (
      name String, checksum String, applied_at DateTime64(3, 'UTC') DEFAULT now64(3)
    ) ENGINE = ReplicatedMergeTree('/clickhouse/tables/all/costline/schema_migrations', '{replica}') ORDER BY name`;
}

/**
 * The cluster statements of one migration's statements. `tables` collects the
 * names of the tables created so far (across migrations), so that a view or
 * an ALTER of a table from an earlier file finds its _local table.
 */
export function clusterStatements(statements: readonly string[], cluster: string, tables: Set<string> = new Set()): string[] {
  const on = `ON CLUSTER ${checkName(cluster)}`;
  const out: string[] = [];
  for (const statement of statements) {
    const sql = statement.trim();
    if (CREATE_DATABASE.test(sql)) {
      out.push(`${sql} ${on}`);
      continue;
    }
    const table = CREATE_TABLE.exec(sql);
    if (table) {
      const [, name, columns, engine, args, tail] = table as unknown as [string, string, string, string, string | undefined, string];
      const orderBy = ORDER_BY.exec(tail);
      if (!orderBy) throw new ClusterMigrationError(`costline.${name} has no ORDER BY to shard by`);
      const local = localTable(name);
      const engineArgs = [replicaPath(local), ...(args?.trim() ? [args.trim()] : [])].join(", ");
      out.push(
        `CREATE TABLE IF NOT EXISTS costline.${local} ${on}\n(${columns})\nENGINE = Replicated${engine}(${engineArgs})${replicatedTail(tail)}`,
      );
      // A rand() key would spread rows of one sort key over shards; the first ORDER BY column keeps them together.
      out.push(
        `CREATE TABLE IF NOT EXISTS costline.${name} ${on} AS costline.${local}\n` +
          `ENGINE = Distributed(${cluster}, costline, ${local}, cityHash64(${orderBy[2]}))`,
      );
      tables.add(name);
      continue;
    }
    const view = CREATE_VIEW.exec(sql);
    if (view) {
      const [, name, target, select] = view as unknown as [string, string, string, string];
      if (!tables.has(target))
        throw new ClusterMigrationError(`view costline.${name} writes to costline.${target}, which no migration created`);
      // The view fires on the shard's local inserts, so it reads and writes local tables.
      const localSelect = select.replace(/\bcostline\.([a-z_]+)\b/g, (whole, t: string) =>
        tables.has(t) ? `costline.${localTable(t)}` : whole,
      );
      out.push(`CREATE MATERIALIZED VIEW IF NOT EXISTS costline.${name} ${on} TO costline.${localTable(target)} AS ${localSelect}`);
      continue;
    }
    const alter = ALTER_TABLE.exec(sql);
    if (alter) {
      const [, name, action] = alter as unknown as [string, string, string];
      if (!tables.has(name)) throw new ClusterMigrationError(`ALTER of costline.${name}, which no migration created`);
      if (/^MODIFY SETTING\s+non_replicated_deduplication_window\s*=\s*\d+$/i.test(action.trim())) continue;
      out.push(`ALTER TABLE costline.${localTable(name)} ${on} ${action}`);
      // The Distributed table mirrors the columns of its local tables.
      if (COLUMN_ALTER.test(action.trim())) out.push(`ALTER TABLE costline.${name} ${on} ${action}`);
      continue;
    }
    const backfill = INSERT_SELECT.exec(sql);
    if (backfill) {
      const [, name] = backfill as unknown as [string, string];
      if (!tables.has(name)) throw new ClusterMigrationError(`backfill of costline.${name}, which no migration created`);
      // Run once, not ON CLUSTER: it reads and writes the Distributed tables, so each
      // shard's rows (FINAL per shard is exact: one tenant's rows share a shard) are
      // re-sharded by the target's own key.
      out.push(sql);
      continue;
    }
    throw new ClusterMigrationError(`no cluster form for this migration statement: ${sql.slice(0, 80)}…`);
  }
  return out;
}
