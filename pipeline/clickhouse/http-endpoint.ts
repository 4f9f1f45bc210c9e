// The embedded engine over the subset of ClickHouse's HTTP interface that
// Grafana's ClickHouse datasource (protocol "http") and @clickhouse/client
// use: GET /ping, and queries on / (the `query` parameter and/or the body,
// `default_format`, `param_<name>` bindings). It is read-only — every
// statement passes the same guard as `costline sql` — and needs an admin API
// key as the password (HTTP Basic, X-ClickHouse-Key or ?password=), so a
// dashboard reads exactly what an admin could, and revoking the key cuts it
// off. Only `costline up` on the embedded engine serves it
// (COSTLINE_CLICKHOUSE_HTTP_PORT); with CLICKHOUSE_URL, point Grafana at the server.
//
//   COSTLINE_CLICKHOUSE_HTTP_PORT=8123 npm start
//   curl -u "grafana:$(cat .costline/admin.key)" 'http://127.0.0.1:8123/?query=SELECT+count()+FROM+costline.ledger'
import { inlineParams } from "../queries/inline-params.ts";
import { defaultQueryLimits, withLimits, type QueryLimits } from "../queries/query-limits.ts";
import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { ClickHouseClient } from "@clickhouse/client";
import type { KeyStore } from "../api/api-keys.ts";
import { ConfigError, PermanentError, errorMessage } from "../errors.ts";
import type { Logger } from "../observability/log.ts";
import { normalizeReadOnly } from "../queries/read-only-sql.ts";

export interface ClickHouseHttpOptions {
  client: ClickHouseClient;
  keys: KeyStore;
  host: string;
  port: number;
  log?: Logger;
  /** Largest query text accepted (default 1 MiB). */
  maxQueryBytes?: number;
  /** Bounds set on every statement, as on /v1/sql (default: the defaults of COSTLINE_QUERY_*). */
  limits?: QueryLimits;
}

const FORMAT_AT_END = /\bFORMAT\s+([A-Za-z0-9]+)\s*$/i;
const FORMAT_NAME = /^[A-Za-z0-9]+$/;

function contentType(format: string): string {
  if (/^JSON(Compact)?(Strings)?$/i.test(format)) return "application/json; charset=UTF-8";
  if (/^(JSONEachRow|JSONCompactEachRow|NDJSON|JSONLines)/i.test(format)) return "application/x-ndjson; charset=UTF-8";
  if (/^(TabSeparated|TSV)/i.test(format)) return "text/tab-separated-values; charset=UTF-8";
  if (/^CSV/i.test(format)) return "text/csv; charset=UTF-8";
  if (/^(Native|RowBinary|Arrow|Parquet)/i.test(format)) return "application/octet-stream";
  return "text/plain; charset=UTF-8";
}

/** The API key presented as the password, the way ClickHouse clients send credentials. */
function presentedKey(req: IncomingMessage, url: URL): string | undefined {
  const basic = /^Basic\s+(.+)$/i.exec(req.headers.authorization ?? "")?.[1];
  if (basic) {
    const decoded = Buffer.from(basic, "base64").toString("utf8");
    const i = decoded.indexOf(":");
    return i >= 0 ? decoded.slice(i + 1) : undefined;
  }
  const header = req.headers["x-clickhouse-key"];
  if (typeof header === "string" && header) return header;
  return url.searchParams.get("password") ?? undefined;
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

const ESCAPES: Record<string, string> = { n: "\n", t: "\t", r: "\r", "0": "\0", b: "\b", f: "\f" };

/**
 * A `param_<name>` value arrives in ClickHouse's escaped text form (`o\'hara`);
 * the engine's binder takes the value itself. Scalars (strings, numbers,
 * dates) bind this way; arrays and maps are not supported here.
 */
function unescapeParam(v: string): string {
  return v.replace(/\\(.)/gs, (_m, c: string) => ESCAPES[c] ?? c);
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
    const key = presentedKey(req, url);
    const principal = key ? await opts.keys.verify(key) : undefined;
    if (principal?.role !== "admin") {
      req.resume();
      return fail(res, 403, 516, "AUTHENTICATION_FAILED", "Authentication failed: the password must be an admin API key of this stack");
    }
    const body = req.method === "POST" ? await readBody(req, max) : "";
    if (body === undefined) return fail(res, 413, 241, "TOO_LARGE", `query larger than ${max} bytes`);
    const query = [url.searchParams.get("query") ?? "", body].filter((s) => s.trim() !== "").join("\n");
    const params: Record<string, string> = {};
    for (const [k, v] of url.searchParams) if (k.startsWith("param_")) params[k.slice(6)] = unescapeParam(v);
    const queryId = url.searchParams.get("query_id") || randomUUID();
    const requested = url.searchParams.get("default_format") ?? "TabSeparated";
    if (!FORMAT_NAME.test(requested)) return fail(res, 400, 73, "UNKNOWN_FORMAT", `unknown format ${requested}`);
    // A client's trailing FORMAT (the HTTP interface's way of naming the output)
    // is taken off before the guard, which refuses FORMAT inside a statement,
    // and put back after the server's bounds.
    const format = FORMAT_AT_END.exec(query.trim())?.[1] ?? requested;
    let sql: string;
    try {
      // `param_*` bindings become quoted, cast literals before the guard reads the statement.
      const statement = query.trim().replace(FORMAT_AT_END, "");
      let inlined: string;
      try {
        inlined = Object.keys(params).length ? inlineParams(statement, params) : statement;
      } catch (err) {
        return fail(res, 400, 456, "UNKNOWN_QUERY_PARAMETER", errorMessage(err));
      }
      sql = await normalizeReadOnly(opts.client, inlined);
    } catch (err) {
      if (err instanceof PermanentError) return fail(res, 400, 164, "READONLY", err.message);
      throw err;
    }
    sql = `${withLimits(sql, opts.limits ?? defaultQueryLimits, `chhttp-${queryId.replace(/[^A-Za-z0-9_-]/g, "").slice(0, 36)}`)}\nFORMAT ${format}`;
    try {
      const rs = await opts.client.exec({ query: sql, query_id: queryId });
      res.writeHead(200, {
        "content-type": contentType(format),
        "x-clickhouse-format": format,
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
      const code = Number((err as { code?: unknown }).code) || 1001;
      opts.log?.debug({ err: errorMessage(err) }, "ClickHouse HTTP query failed");
      if (!res.headersSent) fail(res, 500, code, "QUERY_FAILED", errorMessage(err).split(/\s+In scope\b/)[0]!);
      else res.destroy();
    }
  };
}

export async function startClickHouseHttp(opts: ClickHouseHttpOptions): Promise<{ url: string; close(): Promise<void> }> {
  const handle = createClickHouseHttpHandler(opts);
  const server = createServer((req, res) => {
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
