// The cluster form of the migrations (COSTLINE_CLICKHOUSE_CLUSTER), checked
// by the engine itself: every statement parses (formatQuery: the parser of
// the real ClickHouse in chdb, printing the statement back); every table is a Replicated* _local table ON
// CLUSTER plus a Distributed table of the original name, sharded by its first
// sort column; every view reads and writes _local tables. The engine has no
// keeper, so the replicated tables cannot be created here: with the
// replication taken out (the only change), the local tables and views are
// created for real, hold the same columns as the single-server tables, and
// the views fill the local rollups exactly from a local insert.
import { mkdtempSync, readFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openClickHouse, queryRows, type Ledgerbase } from "../../pipeline/clickhouse/client.ts";
import { loadMigrations, migrate, migrationStatements } from "../../pipeline/clickhouse/migrate.ts";
import { ClusterMigrationError, clusterSchemaMigrationsTable, clusterStatements } from "../../pipeline/clickhouse/cluster-migration.ts";
import { loadConfig } from "../../pipeline/config/config.ts";

let db: Ledgerbase;
const home = mkdtempSync(path.join(os.tmpdir(), "costline-ch-cluster-"));
const repoRoot = path.resolve(import.meta.dirname, "../..");
const cluster = "costline_cluster";
const statements = migrationStatements(loadMigrations(), cluster).flat();

beforeAll(async () => {
  db = await openClickHouse({ dataDir: path.join(home, "clickhouse") } as Parameters<typeof openClickHouse>[0]);
  await migrate(db.client); // the single-server form, to compare with
});
afterAll(async () => db?.close());

const format = async (sql: string) => (await queryRows<{ f: string }>(db.client, "SELECT formatQuery({q:String}) AS f", { q: sql }))[0]!.f;

describe("the cluster form of the migrations", () => {
  it("is accepted by the engine's parser, statement by statement, with the schema_migrations table", async () => {
    expect(statements.length).toBeGreaterThan(20);
    for (const sql of [...statements, clusterSchemaMigrationsTable(cluster)]) {
      const formatted = await format(sql);
      // A backfill (INSERT … SELECT) runs once over the Distributed tables; every DDL runs ON CLUSTER.
      if (/^INSERT INTO /.test(sql)) expect(formatted, sql).not.toContain("ON CLUSTER");
      else expect(formatted, sql).toContain(`ON CLUSTER ${cluster}`);
    }
    // The parser can fail: a broken statement is refused.
    await expect(format(statements[1]!.replace("ON CLUSTER", "ON CLUSTER ON"))).rejects.toThrow(/Syntax error/);
  });

  it("makes every table a replicated local table and a Distributed table over it, sharded by its first sort column", async () => {
    const single = await queryRows<{ name: string; engine: string; sorting_key: string }>(
      db.client,
      "SELECT name, engine, sorting_key FROM system.tables WHERE database = 'costline' AND engine LIKE '%MergeTree' AND name != 'schema_migrations'",
    );
    expect(single.length).toBeGreaterThanOrEqual(10);
    const formatted = await Promise.all(statements.map(format));
    for (const t of single) {
      const local = formatted.find((s) => s.startsWith(`CREATE TABLE IF NOT EXISTS costline.${t.name}_local ON CLUSTER`));
      expect(local, t.name).toBeDefined();
      expect(local).toMatch(
        new RegExp(`ENGINE = Replicated${t.engine}\\('/clickhouse/tables/\\{shard\\}/costline/${t.name}_local', '\\{replica\\}'`),
      );
      expect(local).not.toMatch(/non_replicated_deduplication_window/);
      // The Distributed table as the engine's parser prints it back: cluster, database, local table, sharding key.
      const firstKey = t.sorting_key.split(",")[0]!.trim();
      const dist = formatted.find((s) => s.startsWith(`CREATE TABLE IF NOT EXISTS costline.${t.name} ON CLUSTER`));
      expect(dist, t.name).toBe(
        `CREATE TABLE IF NOT EXISTS costline.${t.name} ON CLUSTER ${cluster} AS costline.${t.name}_local\n` +
          `ENGINE = Distributed(${cluster}, costline, ${t.name}_local, cityHash64(${firstKey}))`,
      );
    }
  });

  it("points every materialized view at local tables, and keeps single-server settings out", async () => {
    const views = statements.filter((s) => /^CREATE MATERIALIZED VIEW/.test(s));
    expect(views.length).toBeGreaterThanOrEqual(4);
    for (const v of views) {
      expect(v).toMatch(/ TO costline\.[a-z_]+_local AS /);
      for (const m of v.matchAll(/\bFROM costline\.([a-z_]+)/g)) expect(m[1], v).toMatch(/_local$/);
    }
    expect(statements.join("\n")).not.toMatch(/non_replicated_deduplication_window/);
  });

  it("creates, without the replication, the same columns as the single-server tables, and its views fill the local rollups", async () => {
    // The only change: plain engines (no keeper here) and no ON CLUSTER (no remote_servers); Distributed tables need a cluster.
    const local = statements
      // Backfills and the column changes of Distributed tables need the Distributed tables, so the cluster too.
      .filter(
        (s) =>
          !/ENGINE = Distributed/.test(s) &&
          !/^CREATE DATABASE/.test(s) &&
          !/^INSERT INTO /.test(s) &&
          !(/^ALTER TABLE /.test(s) && !/^ALTER TABLE costline\.[a-z_]+_local /.test(s)),
      )
      .map((s) =>
        s
          .replaceAll(`ON CLUSTER ${cluster}`, "")
          .replace(/ENGINE = Replicated(\w+)\('[^']*', '\{replica\}'(?:, )?/, "ENGINE = $1(")
          .replaceAll("costline.", "costline_c."),
      );
    await db.client.command({ query: "CREATE DATABASE IF NOT EXISTS costline_c" });
    for (const s of local) await db.client.command({ query: s });
    const columns = async (database: string, table: string) =>
      queryRows<{ name: string; type: string }>(
        db.client,
        "SELECT name, type FROM system.columns WHERE database = {d:String} AND table = {t:String} ORDER BY position",
        { d: database, t: table },
      );
    for (const t of ["ledger", "ledger_minute", "ledger_hour", "ledger_day_user", "ledger_post", "alerts", "api_keys"])
      expect(await columns("costline_c", `${t}_local`), t).toEqual(await columns("costline", t));
    await db.client.command({
      query:
        "INSERT INTO costline_c.ledger_local (event_id, source, kind, time, tenant, provider, model, post_id, cost_usd, priced) VALUES " +
        "('e1', 's', 'llm', '2026-11-22 10:00:01', 'acme', 'openai', 'gpt-4o', 'p1', 0.000000000001, true), " +
        "('e2', 's', 'llm', '2026-11-22 10:00:02', 'acme', 'openai', 'gpt-4o', 'p1', 0.1, true)",
    });
    const [minute] = await queryRows<{ events: string; usd: string }>(
      db.client,
      "SELECT toString(sum(events)) AS events, toString(sum(cost_usd)) AS usd FROM costline_c.ledger_minute_local WHERE tenant = 'acme'",
    );
    expect(minute).toEqual({ events: "2", usd: "0.100000000001" });
    const [post] = await queryRows<{ usd: string }>(
      db.client,
      "SELECT toString(sum(cost_usd)) AS usd FROM costline_c.ledger_post_local WHERE tenant = 'acme' AND post_id = 'p1'",
    );
    expect(post!.usd).toBe("0.100000000001");
  });

  it("refuses what it cannot carry over, and bad cluster names", () => {
    expect(() => clusterStatements(["DROP TABLE costline.ledger"], cluster)).toThrow(ClusterMigrationError);
    expect(() => clusterStatements(["CREATE DATABASE IF NOT EXISTS costline"], "a b; DROP")).toThrow(ClusterMigrationError);
    expect(() => clusterStatements(["ALTER TABLE costline.nothing ADD COLUMN x String"], cluster)).toThrow(/no migration created/);
    // A column change reaches the local and the Distributed table.
    const alter = clusterStatements(["ALTER TABLE costline.t ADD COLUMN x String"], cluster, new Set(["t"]));
    expect(alter).toEqual([
      `ALTER TABLE costline.t_local ON CLUSTER ${cluster} ADD COLUMN x String`,
      `ALTER TABLE costline.t ON CLUSTER ${cluster} ADD COLUMN x String`,
    ]);
  });

  it("the cluster files in deploy/ name the cluster, the macros the keeper paths use, and settings the engine knows", async () => {
    const deploy = (f: string) => readFileSync(path.join(repoRoot, "deploy/clickhouse/cluster", f), "utf8");
    const servers = deploy("costline-cluster.xml");
    const name = /<remote_servers>\s*<(\w+)>/.exec(servers)![1]!;
    expect(loadConfig({ COSTLINE_CLICKHOUSE_CLUSTER: name }).clickhouse.cluster).toBe(name);
    expect(servers.match(/<shard>/g)!.length).toBe(servers.match(/<internal_replication>true<\/internal_replication>/g)!.length);
    // The macros every replicated table's path names.
    const macros = deploy("macros-example.xml");
    for (const m of new Set(statements.join("\n").match(/\{(\w+)\}/g))) expect(macros, m).toContain(`<${m.slice(1, -1)}>`);
    const profile = /<costline_cluster>([\s\S]*)<\/costline_cluster>/.exec(deploy("costline-profile.xml"))![1]!;
    const settings = [...profile.matchAll(/<(\w+)>[^<]*<\/\1>/g)].map((m) => m[1]!);
    expect(settings).toContain("distributed_foreground_insert");
    const known = await queryRows<{ name: string }>(db.client, "SELECT name FROM system.settings WHERE name IN {names:Array(String)}", {
      names: settings,
    });
    expect(known.map((k) => k.name).sort()).toEqual([...settings].sort());
  });

  it("is chosen by COSTLINE_CLICKHOUSE_CLUSTER, which must be a cluster name", () => {
    expect(loadConfig({ COSTLINE_CLICKHOUSE_CLUSTER: "costline" }).clickhouse.cluster).toBe("costline");
    expect(loadConfig({}).clickhouse.cluster).toBeUndefined();
    expect(() => loadConfig({ COSTLINE_CLICKHOUSE_CLUSTER: "a'b" })).toThrow(/COSTLINE_CLICKHOUSE_CLUSTER/);
  });
});
