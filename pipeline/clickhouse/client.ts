// One ClickHouse client factory: @clickhouse/client over HTTP when
// CLICKHOUSE_URL is set, otherwise the same client on the embedded chdb engine
// under $COSTLINE_HOME. One code path, one SQL dialect.
//
// Never pass `clickhouse_settings` through this client: the embedded
// connection turns them into session-wide SET statements that outlive the
// query. Put per-query settings in the SQL's SETTINGS clause instead.
import { createHash } from "node:crypto";
import { mkdirSync } from "node:fs";
import type { ClickHouseClient } from "@clickhouse/client";
import type { Config } from "../config/config.ts";
import { ConfigError } from "../errors.ts";

export interface Ledgerbase {
  client: ClickHouseClient;
  mode: "embedded" | "server";
  /**
   * Connections for analytic queries (reports, /v1/sql), apart from `client`:
   * an embedded connection runs one query at a time, so a long report on
   * `client` would hold the ledger sink's inserts behind it. On a server they
   * are the same HTTP client (it runs requests in parallel).
   */
  analyticsLanes(n: number): ClickHouseClient[];
  close(): Promise<void>;
}

export async function openClickHouse(ch: Config["clickhouse"]): Promise<Ledgerbase> {
  // Imported here, not at the top: a CLI command that talks to the API never loads the client.
  const { createClient } = await import("@clickhouse/client");
  if (ch.url) {
    const client = createClient({
      url: ch.url,
      username: ch.user,
      password: ch.password,
      request_timeout: 60_000,
      compression: { request: false, response: true },
      // A read whose HTTP request is gone is cancelled on the server too.
      clickhouse_settings: { cancel_http_readonly_queries_on_client_close: 1 },
    });
    return { client, mode: "server", analyticsLanes: (n) => Array.from({ length: n }, () => client), close: () => client.close() };
  }
  let createChdbConnection: (opts: { path: string }) => unknown;
  try {
    ({ createChdbConnection } = (await import("chdb/connection")) as { createChdbConnection: typeof createChdbConnection });
  } catch (err) {
    throw new ConfigError(
      `the embedded ClickHouse engine (npm package "chdb") is not installed: run npm install, or set CLICKHOUSE_URL (${(err as Error).message})`,
    );
  }
  mkdirSync(ch.dataDir, { recursive: true });
  const open = () =>
    createClient({ connection: createChdbConnection({ path: ch.dataDir }) } as unknown as Parameters<typeof createClient>[0]);
  const client = open();
  const lanes: ClickHouseClient[] = [];
  return {
    client,
    mode: "embedded",
    analyticsLanes(n) {
      while (lanes.length < n) lanes.push(open());
      return lanes.slice(0, n);
    },
    close: async () => {
      await Promise.all(lanes.map((l) => l.close()));
      await client.close();
    },
  };
}

/** Runs a read query with bound parameters and returns its rows. */
export async function queryRows<T>(client: ClickHouseClient, query: string, params: Record<string, unknown> = {}): Promise<T[]> {
  const rs = await client.query({ query, query_params: params, format: "JSONEachRow" });
  return rs.json<T>();
}

const TABLE = /^costline\.[a-z_]+$/;
const COLUMN = /^[a-z_][a-z0-9_]*$/;

/**
 * Inserts rows so that a retry of the same rows is dropped by ClickHouse, in
 * the table and in every materialized view fed from it: the deduplication
 * token is a hash of `identity` (one string per row, order-insensitive). The
 * settings go in the SQL, never as client settings (see the note above).
 */
export async function insertIdempotent(
  client: ClickHouseClient,
  table: string,
  rows: readonly Record<string, unknown>[],
  identity: readonly string[],
): Promise<void> {
  if (rows.length === 0) return;
  await insertIdempotentText(client, table, { format: "JSONEachRow", body: rows.map((r) => JSON.stringify(r)).join("\n") }, identity);
}

/**
 * The same idempotent insert with its data already written in `format`
 * (e.g. JSONCompactEachRow, whose values follow `columns`): a hot path writes
 * its rows straight into the text, without an object per row.
 */
export async function insertIdempotentText(
  client: ClickHouseClient,
  table: string,
  data: { format: "JSONEachRow" | "JSONCompactEachRow"; columns?: readonly string[]; body: string },
  identity: readonly string[],
): Promise<void> {
  if (!TABLE.test(table)) throw new Error(`not a costline table: ${table}`);
  const columns = data.columns ?? [];
  if (!columns.every((c) => COLUMN.test(c))) throw new Error(`not a column list: ${columns.join(", ")}`);
  const h = createHash("sha256");
  for (const k of [...identity].sort()) h.update(k).update("\u0001");
  await client.command({
    query:
      `INSERT INTO ${table}${columns.length ? ` (${columns.join(", ")})` : ""} SETTINGS insert_deduplication_token = '${h.digest("hex")}', ` +
      `deduplicate_blocks_in_dependent_materialized_views = 1 FORMAT ${data.format}\n${data.body}`,
  });
}
