// Applies the ordered .sql files of clickhouse/migrations once each, recording
// name and checksum; an applied file whose text changed is an error. On a
// ClickHouse cluster (COSTLINE_CLICKHOUSE_CLUSTER) the same files run in
// their cluster form (cluster-migration.ts).
import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import type { ClickHouseClient } from "@clickhouse/client";
import { CostlineError } from "../errors.ts";
import { packagePath } from "../package-root.ts";
import { queryRows } from "./client.ts";
import { clusterSchemaMigrationsTable, clusterStatements } from "./cluster-migration.ts";

export class MigrationError extends CostlineError {}

export const migrationsDir = packagePath("clickhouse", "migrations");

export interface Migration {
  name: string;
  checksum: string;
  statements: string[];
}

export function loadMigrations(dir = migrationsDir): Migration[] {
  return readdirSync(dir)
    .filter((f) => /^\d{4}_[a-z0-9_]+\.sql$/.test(f))
    .sort()
    .map((name) => {
      const text = readFileSync(path.join(dir, name), "utf8");
      return { name, checksum: createHash("sha256").update(text).digest("hex"), statements: splitStatements(text) };
    });
}

/** Splits on `;` at the end of a line, dropping `--` comment lines. */
export function splitStatements(text: string): string[] {
  const body = text
    .split("\n")
    .filter((l) => !l.trim().startsWith("--"))
    .join("\n");
  return body
    .split(/;\s*(?:\n|$)/)
    .map((s) => s.trim())
    .filter(Boolean);
}

export interface MigrateOptions {
  dir?: string;
  /** A cluster name from the servers' remote_servers: the migrations run ON CLUSTER, replicated and distributed. */
  cluster?: string;
}

/** Every statement of the migrations in `dir` as it runs: as written, or in its cluster form. */
export function migrationStatements(migrations: Migration[], cluster?: string): string[][] {
  if (!cluster) return migrations.map((m) => m.statements);
  const tables = new Set<string>();
  return migrations.map((m) => clusterStatements(m.statements, cluster, tables));
}

/** `opts` as a string is the migrations folder (the older form of the call). */
export async function migrate(client: ClickHouseClient, opts: MigrateOptions | string = {}): Promise<string[]> {
  const { dir = migrationsDir, cluster } = typeof opts === "string" ? { dir: opts } : opts;
  const all = loadMigrations(dir);
  // Derived before anything runs: a migration without a cluster form stops here, not half-way.
  const statements = migrationStatements(all, cluster);
  await client.command({ query: `CREATE DATABASE IF NOT EXISTS costline${cluster ? ` ON CLUSTER ${cluster}` : ""}` });
  await client.command({
    query: cluster
      ? clusterSchemaMigrationsTable(cluster)
      : `CREATE TABLE IF NOT EXISTS costline.schema_migrations (
      name String, checksum String, applied_at DateTime64(3, 'UTC') DEFAULT now64(3)
    ) ENGINE = MergeTree ORDER BY name`,
  });
  const applied = new Map(
    (await queryRows<{ name: string; checksum: string }>(client, "SELECT name, checksum FROM costline.schema_migrations")).map((r) => [
      r.name,
      r.checksum,
    ]),
  );
  const ran: string[] = [];
  for (const [i, m] of all.entries()) {
    const known = applied.get(m.name);
    if (known !== undefined) {
      if (known !== m.checksum)
        throw new MigrationError(
          `migration ${m.name} was changed after it was applied (checksum ${known.slice(0, 12)} → ${m.checksum.slice(0, 12)}); add a new migration instead`,
        );
      continue;
    }
    for (const statement of statements[i]!) await client.command({ query: statement });
    await client.insert({ table: "costline.schema_migrations", values: [{ name: m.name, checksum: m.checksum }], format: "JSONEachRow" });
    ran.push(m.name);
  }
  return ran;
}
