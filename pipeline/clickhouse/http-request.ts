// What a ClickHouse HTTP request asks for, turned into one statement the
// embedded engine runs: `param_<name>` values bound as literals, settings
// (URL parameters that are not the interface's own) put into the statement's
// SETTINGS clause — per query, never session-wide SET statements on the
// shared connection — and the output format taken from a trailing FORMAT or
// `default_format`.
import { quoteString } from "../queries/sql-literal.ts";

const PLACEHOLDER = /\{([A-Za-z_][A-Za-z0-9_]*):([^{}]+)\}/g;
const STRING_TYPE = /^(LowCardinality\()?(Nullable\()?(String|FixedString\(\d+\))\)?\)?$/;
const ESCAPES: Record<string, string> = { n: "\n", t: "\t", r: "\r", "0": "\0", b: "\b", f: "\f" };

/** Parameters of the HTTP interface itself, and transport settings this endpoint carries out (or has no use for). */
const INTERFACE_PARAMS = new Set([
  "query",
  "database",
  "default_format",
  "query_id",
  "session_id",
  "session_timeout",
  "session_check",
  "user",
  "password",
  "compress",
  "decompress",
  "buffer_size",
  "wait_end_of_query",
  "enable_http_compression",
  "http_zlib_compression_level",
  "send_progress_in_http_headers",
  "http_headers_progress_interval_ms",
  "cancel_http_readonly_queries_on_client_close",
  "http_wait_end_of_query",
  "http_response_buffer_size",
  "role",
  "quota_key",
]);
/** Settings a read-only client (Grafana) may give a query; the server's bounds come after them and win. */
const READER_SETTINGS =
  /^(output_format_|format_|date_time_|max_|result_overflow_mode$|timeout_overflow_mode$|session_timezone$|extremes$|join_use_nulls$)/;
const SETTING_NAME = /^[a-z][a-z0-9_]*$/;

export class HttpRequestError extends Error {
  constructor(
    readonly code: number,
    readonly codeName: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * A `param_<name>` value as ClickHouse's HTTP interface takes it: a String in
 * its escaped text form (`o\'hara`), any other type as its text (an Array as
 * `['a','b']`), which a CAST from a quoted string parses the same way.
 */
export function bindHttpParams(sql: string, params: Record<string, string>): string {
  return sql.replace(PLACEHOLDER, (_whole, name: string, rawType: string) => {
    const type = rawType.trim();
    const raw = params[name];
    if (raw === undefined) throw new HttpRequestError(456, "UNKNOWN_QUERY_PARAMETER", `query parameter ${name} is not set`);
    if (raw === "\\N" && /Nullable/.test(type)) return `CAST(NULL AS ${type})`;
    if (STRING_TYPE.test(type)) return `CAST(${quoteString(raw.replace(/\\(.)/gs, (_m, c: string) => ESCAPES[c] ?? c))} AS ${type})`;
    return `CAST(${quoteString(raw)} AS ${type})`;
  });
}

/** The settings a request carries as URL parameters, for a writer or a reader. */
export function requestSettings(url: URL, role: "reader" | "writer"): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of url.searchParams) {
    if (k.startsWith("param_") || INTERFACE_PARAMS.has(k)) continue;
    if (!SETTING_NAME.test(k)) throw new HttpRequestError(115, "UNKNOWN_SETTING", `unknown setting ${k}`);
    if (role === "reader" && !READER_SETTINGS.test(k)) continue;
    out[k] = v;
  }
  return out;
}

const settingValue = (v: string) => (/^-?\d+(\.\d+)?$/.test(v) ? v : quoteString(v));
const settingList = (s: Record<string, string>) =>
  Object.entries(s)
    .map(([k, v]) => `${k} = ${settingValue(v)}`)
    .join(", ");

/** `settings` added to a statement's own trailing SETTINGS clause, or as one. */
export function withSettings(sql: string, settings: Record<string, string>): string {
  if (Object.keys(settings).length === 0) return sql;
  const body = sql.trim().replace(/;\s*$/, "");
  return /\bSETTINGS\b([^'`"()]*)$/i.test(body) ? `${body}, ${settingList(settings)}` : `${body}\nSETTINGS ${settingList(settings)}`;
}

const INSERT_HEAD = /^(\s*INSERT\s+INTO\s+[\s\S]*?)(\s+SETTINGS\s+[\s\S]*?)?(\s+(?:FORMAT\s+\w+|VALUES\b|SELECT\b|WITH\b|\(\s*SELECT\b))/i;
const DATA_FOLLOWS = /^\s*INSERT\s+INTO\s+[\s\S]*?\sFORMAT\s+\w+[^\S\n]*/i;

/**
 * An INSERT as the engine runs it: parameters bound in the statement (never
 * in the data after FORMAT, which is the client's text), and `settings` put
 * into its head, before FORMAT, VALUES or its SELECT.
 */
export function bindInsert(sql: string, params: Record<string, string>, settings: Record<string, string>): string {
  const data = DATA_FOLLOWS.exec(sql);
  const head = data ? data[0] : sql;
  const rest = data ? sql.slice(head.length) : "";
  let bound = Object.keys(params).length ? bindHttpParams(head, params) : head;
  if (Object.keys(settings).length) {
    const m = INSERT_HEAD.exec(bound);
    if (!m) throw new HttpRequestError(62, "SYNTAX_ERROR", "an INSERT with settings needs FORMAT, VALUES or SELECT");
    const own = m[2] ? `${m[2]}, ` : " SETTINGS ";
    bound = `${m[1]}${own}${settingList(settings)}${m[3]}${bound.slice(m[0].length)}`;
  }
  return bound + rest;
}

/** The statement without the comments before it (queries kept in files start with some). */
const leading = (sql: string) => sql.replace(/^(\s*(--[^\n]*(\n|$)|\/\*[\s\S]*?\*\/))*\s*/, "");
export const isInsert = (sql: string) => /^INSERT\b/i.test(leading(sql));
/** Statements that answer with rows, in the requested format. */
export const returnsRows = (sql: string) => /^(\(?\s*SELECT|WITH|SHOW|DESC|DESCRIBE|EXPLAIN|EXISTS)\b/i.test(leading(sql));
