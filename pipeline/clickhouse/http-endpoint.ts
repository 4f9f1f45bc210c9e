// The embedded engine over the part of ClickHouse's HTTP interface that
// Grafana's ClickHouse datasource (protocol "http") and @clickhouse/client
// use: GET /ping, and statements on / (the `query` parameter and/or the body,
// `default_format` or a trailing FORMAT, `param_<name>` bindings, settings as
// URL parameters, inserts with their data in the body), credentials as HTTP
// Basic, X-ClickHouse-User/X-ClickHouse-Key or ?user=&password=. Only
// `costline up` on the embedded engine serves it (COSTLINE_CLICKHOUSE_HTTP_PORT).
// Two kinds of client:
// - any user with an admin API key as the password: read-only — every
//   statement passes the same guard as `costline sql`, under the same bounds —
//   so a dashboard reads exactly what an admin could, and revoking the key
//   cuts it off;
// - the writer (http-writer.ts): what a pipeline does on a server —
//   migrations, inserts, reads — so more costline processes join the stack
//   with CLICKHOUSE_URL (`costline run STAGE…`).
//
//   COSTLINE_CLICKHOUSE_HTTP_PORT=8123 npm start
//   curl -u "grafana:$(cat .costline/admin.key)" 'http://127.0.0.1:8123/?query=SELECT+count()+FROM+costline.ledger'
import { defaultQueryLimits, withLimits, type QueryLimits } from "../queries/query-limits.ts";
import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { ClickHouseClient } from "@clickhouse/client";
import type { KeyStore } from "../api/api-keys.ts";
import { ConfigError, PermanentError, errorMessage } from "../errors.ts";
import type { Logger } from "../observability/log.ts";
import { normalizeReadOnly } from "../queries/read-only-sql.ts";
import { HttpRequestError, bindHttpParams, bindInsert, isInsert, requestSettings, returnsRows, withSettings } from "./http-request.ts";
import { isWriter, type HttpWriter } from "./http-writer.ts";

export interface ClickHouseHttpOptions {
  client: ClickHouseClient;
  keys: KeyStore;
  host: string;
  port: number;
  log?: Logger;
  /** Largest query text accepted (default 1 MiB). */
  maxQueryBytes?: number;
  /** Bounds set on every read-only statement, as on /v1/sql (default: the defaults of COSTLINE_QUERY_*). */
  limits?: QueryLimits;
  /** The user and password of the writer (other costline processes); absent: read-only clients only. */
  writer?: HttpWriter;
  /** Where the writer's statements run (default `client`): a connection of their own, so they do not queue behind the stack's own inserts. */
  writerClient?: ClickHouseClient;
}

const FORMAT_AT_END = /\bFORMAT\s+([A-Za-z0-9]+)\s*$/i;
const FORMAT_NAME = /^[A-Za-z0-9]+$/;
const ERROR_NAME = /^[A-Z][A-Z0-9_]{2,}$/;

function contentType(format: string): string {
  if (/^JSON(Compact)?(Strings)?$/i.test(format)) return "application/json; charset=UTF-8";
  if (/^(JSONEachRow|JSONCompactEachRow|NDJSON|JSONLines)/i.test(format)) return "application/x-ndjson; charset=UTF-8";
  if (/^(TabSeparated|TSV)/i.test(format)) return "text/tab-separated-values; charset=UTF-8";
  if (/^CSV/i.test(format)) return "text/csv; charset=UTF-8";
  if (/^(Native|RowBinary|Arrow|Parquet)/i.test(format)) return "application/octet-stream";
  return "text/plain; charset=UTF-8";
}

/** The user and password presented, the ways ClickHouse clients send them. */
function presented(req: IncomingMessage, url: URL): { user?: string; password?: string } {
  const basic = /^Basic\s+(.+)$/i.exec(req.headers.authorization ?? "")?.[1];
  if (basic) {
    const decoded = Buffer.from(basic, "base64").toString("utf8");
    const i = decoded.indexOf(":");
    return i >= 0 ? { user: decoded.slice(0, i), password: decoded.slice(i + 1) } : { user: decoded };
  }
  const header = (name: string) => {
    const v = req.headers[name];
    return typeof v === "string" && v ? v : undefined;
  };
  return {
    user: header("x-clickhouse-user") ?? url.searchParams.get("user") ?? undefined,
    password: header("x-clickhouse-key") ?? url.searchParams.get("password") ?? undefined,
  };
}

async function readBody(req: IncomingMessage, max: number): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > max) return undefined;
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString("utf8");
}

/** An error as ClickHouse answers it: HTTP status, exception code header, "Code: N. DB::Exception: …" body. */
function fail(res: ServerResponse, status: number, code: number, name: string, message: string): void {
  res.writeHead(status, { "content-type": "text/plain; charset=UTF-8", "x-clickhouse-exception-code": String(code) });
  res.end(`Code: ${code}. DB::Exception: ${message}. (${name})\n`);
}

export function createClickHouseHttpHandler(opts: Omit<ClickHouseHttpOptions, "host" | "port">) {
  const max = opts.maxQueryBytes ?? 1_048_576;
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? "/", "http://localhost");
    if (url.pathname === "/ping" || (url.pathname === "/" && req.method === "GET" && !url.searchParams.has("query"))) {
      res.writeHead(200, { "content-type": "text/plain; charset=UTF-8" });
      res.end("Ok.\n");
      return;
    }
    if (url.pathname !== "/" || (req.method !== "GET" && req.method !== "POST"))
      return fail(res, 404, 0, "UNKNOWN", `no handler for ${req.method} ${url.pathname}`);
    const who = presented(req, url);
    const writer = isWriter(opts.writer, who.user, who.password);
    const principal = writer || !who.password ? undefined : await opts.keys.verify(who.password);
    if (!writer && principal?.role !== "admin") {
      req.resume();
      return fail(
        res,
        403,
        516,
        "AUTHENTICATION_FAILED",
        "Authentication failed: the password must be an admin API key of this stack (or the writer's, for costline processes)",
      );
    }
    const body = req.method === "POST" ? await readBody(req, writer ? Math.max(max, 256 * 1_048_576) : max) : "";
    if (body === undefined) return fail(res, 413, 241, "TOO_LARGE", `query larger than ${max} bytes`);
    const query = [url.searchParams.get("query") ?? "", body].filter((s) => s.trim() !== "").join("\n");
    // Like ClickHouse, a GET only reads.
    if (writer && req.method === "GET" && !returnsRows(query))
      return fail(res, 400, 164, "READONLY", "a GET request only reads; send other statements with POST");
    const params: Record<string, string> = {};
    for (const [k, v] of url.searchParams) if (k.startsWith("param_")) params[k.slice(6)] = v;
    const queryId = url.searchParams.get("query_id") || randomUUID();
    const requested = url.searchParams.get("default_format") ?? "TabSeparated";
    if (!FORMAT_NAME.test(requested)) return fail(res, 400, 73, "UNKNOWN_FORMAT", `unknown format ${requested}`);
    let sql: string;
    let format: string | undefined;
    try {
      const settings = requestSettings(url, writer ? "writer" : "reader");
      if (writer && isInsert(query)) {
        // The data follows the statement; parameters and settings go in its head.
        sql = bindInsert(query, params, settings);
      } else {
        // A client's trailing FORMAT (the HTTP interface's way of naming the output)
        // is taken off before the guard, which refuses FORMAT inside a statement,
        // and put back after the server's bounds.
        const statement = query.trim().replace(FORMAT_AT_END, "");
        // A FORMAT the client wrote is what it reads; else rows come in default_format.
        const asked = FORMAT_AT_END.exec(query.trim())?.[1];
        format = asked ?? (returnsRows(statement) || !writer ? requested : undefined);
        // `param_*` bindings become quoted, cast literals before the guard reads the statement.
        const bound = Object.keys(params).length ? bindHttpParams(statement, params) : statement;
        if (writer) sql = format ? withSettings(bound, settings) : bound;
        else {
          const guarded = await normalizeReadOnly(opts.client, bound);
          sql = withLimits(
            withSettings(guarded, settings),
            opts.limits ?? defaultQueryLimits,
            `chhttp-${queryId.replace(/[^A-Za-z0-9_-]/g, "").slice(0, 36)}`,
          );
        }
        if (format) sql = `${sql}\nFORMAT ${format}`;
      }
    } catch (err) {
      if (err instanceof HttpRequestError) return fail(res, 400, err.code, err.codeName, err.message);
      if (err instanceof PermanentError) return fail(res, 400, 164, "READONLY", err.message);
      throw err;
    }
    try {
      const client = writer ? (opts.writerClient ?? opts.client) : opts.client;
      const rs = await client.exec({ query: sql, query_id: queryId });
      const shown = format ?? "TabSeparated";
      res.writeHead(200, {
        "content-type": contentType(shown),
        "x-clickhouse-format": shown,
        "x-clickhouse-query-id": queryId,
        "x-clickhouse-timezone": "UTC",
        "x-clickhouse-summary": JSON.stringify({
          read_rows: "0",
          read_bytes: "0",
          written_rows: "0",
          written_bytes: "0",
          total_rows_to_read: "0",
        }),
      });
      for await (const chunk of rs.stream) res.write(chunk);
      res.end();
    } catch (err) {
      // chdb names the engine's error code clickhouseCode; a server client, code.
      const e = err as { clickhouseCode?: unknown; code?: unknown; type?: unknown };
      const code = Number(e.clickhouseCode ?? e.code) || Number(/Code: (\d+)\./.exec(errorMessage(err))?.[1]) || 1001;
      // The engine's own error name, as ClickHouse answers it: a client tells a refusal of its
      // data (CANNOT_PARSE_…) from the engine's trouble (MEMORY_LIMIT_EXCEEDED, TIMEOUT_EXCEEDED…)
      // by it, so it must never be one name for every failure.
      const name = typeof e.type === "string" && ERROR_NAME.test(e.type) ? e.type : "UNKNOWN_EXCEPTION";
      opts.log?.debug({ err: errorMessage(err) }, "ClickHouse HTTP query failed");
      if (!res.headersSent) fail(res, 500, code, name, errorMessage(err).split(/\s+In scope\b/)[0]!);
      else res.destroy();
    }
  };
}

/** ClickHouse's default http_max_uri_size. */
export const httpMaxUriSize = 1_048_576;

export async function startClickHouseHttp(opts: ClickHouseHttpOptions): Promise<{ url: string; close(): Promise<void> }> {
  const handle = createClickHouseHttpHandler(opts);
  // ClickHouse accepts a request line up to http_max_uri_size (1 MiB), and its clients
  // send `param_*` bindings in the URL: the ledger's stored-id lookup of a large batch
  // binds every event id there. Node's default (16 KiB) answered those with a bare 431,
  // which @clickhouse/client reports as an error with an empty message.
  const server = createServer({ maxHeaderSize: httpMaxUriSize }, (req, res) => {
    handle(req, res).catch((err) => {
      opts.log?.error({ err }, "ClickHouse HTTP endpoint failed");
      if (!res.headersSent) fail(res, 500, 1001, "STD_EXCEPTION", "internal error; the stack's log has the details");
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", (err: NodeJS.ErrnoException) =>
      reject(
        err.code === "EADDRINUSE"
          ? new ConfigError(
              `the ClickHouse HTTP port ${opts.host}:${opts.port} is in use; set COSTLINE_CLICKHOUSE_HTTP_PORT (0 picks a free port)`,
            )
          : err,
      ),
    );
    server.listen(opts.port, opts.host, () => resolve());
  });
  const addr = server.address();
  const port = typeof addr === "object" && addr ? addr.port : opts.port;
  return {
    url: `http://${opts.host}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
