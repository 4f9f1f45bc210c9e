// The bounds every analytic query runs under, set by the server and never by
// the caller: a time limit, result rows and bytes, memory, and readonly=2. They
// travel in the statement's own SETTINGS clause (the embedded engine turns
// client settings into session-wide SETs, which would outlive the query).
import { CostlineError, errorMessage } from "../errors.ts";

export interface QueryLimits {
  /** Wall-clock limit per query (max_execution_time). */
  timeoutS: number;
  maxResultRows: number;
  maxResultBytes: number;
  maxMemoryBytes: number;
  /** Threads one analytic query may use (max_threads): what is left stays with ingestion. */
  maxThreads: number;
}

export const defaultQueryLimits: QueryLimits = {
  timeoutS: 10,
  maxResultRows: 1_000_000,
  maxResultBytes: 64 * 1024 * 1024,
  maxMemoryBytes: 2 * 1024 ** 3,
  maxThreads: 1,
};

export type QueryBound = "time" | "rows" | "bytes" | "memory" | "cancelled" | "busy" | "readonly";

/** A query stopped by one of its bounds: the caller's request, not the stack, is at fault (4xx). */
export class QueryLimitError extends CostlineError {
  constructor(
    readonly bound: QueryBound,
    message: string,
    /** The HTTP status this answers with. */
    readonly status: 400 | 408 | 413 | 429 | 499 | 503,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The SETTINGS clause appended to every analytic statement; `tag` lets a running query be found and killed. */
export function limitSettings(l: QueryLimits, tag: string): string {
  if (!/^[A-Za-z0-9_-]+$/.test(tag)) throw new Error(`bad query tag ${tag}`);
  return [
    "readonly = 2",
    `max_execution_time = ${l.timeoutS}`,
    "timeout_overflow_mode = 'throw'",
    `max_result_rows = ${l.maxResultRows}`,
    `max_result_bytes = ${l.maxResultBytes}`,
    "result_overflow_mode = 'throw'",
    `max_memory_usage = ${l.maxMemoryBytes}`,
    `max_threads = ${l.maxThreads}`,
    "allow_introspection_functions = 0",
    "allow_ddl = 0",
    `log_comment = '${tag}'`,
  ].join(", ");
}

/** Appends the bounds to a statement, after any SETTINGS clause the server's own SQL already has. */
export function withLimits(sql: string, l: QueryLimits, tag: string): string {
  const body = sql.trim().replace(/;\s*$/, "");
  const own = /\bSETTINGS\b([^'`"]*)$/i.exec(body);
  return own ? `${body}, ${limitSettings(l, tag)}` : `${body}\nSETTINGS ${limitSettings(l, tag)}`;
}

const CODES: Record<number, QueryBound> = { 159: "time", 160: "time", 396: "rows", 241: "memory", 394: "cancelled", 164: "readonly" };

/** The bound a ClickHouse error reports, as a QueryLimitError; undefined for any other error. */
export function limitError(err: unknown, l: QueryLimits): QueryLimitError | undefined {
  const msg = errorMessage(err);
  const code = Number((err as { code?: unknown }).code ?? /Code: (\d+)\./.exec(msg)?.[1]);
  const bound =
    CODES[code] ??
    (/TIMEOUT_EXCEEDED/.test(msg)
      ? "time"
      : /TOO_MANY_ROWS_OR_BYTES/.test(msg)
        ? "rows"
        : /MEMORY_LIMIT_EXCEEDED/.test(msg)
          ? "memory"
          : undefined);
  switch (bound) {
    case "time":
      return new QueryLimitError(
        "time",
        `query stopped: it ran longer than ${l.timeoutS} s (COSTLINE_QUERY_TIMEOUT_S); narrow the time range or read a rollup`,
        408,
        { cause: err },
      );
    case "rows":
      return /bytes/i.test(msg) && !/max rows/i.test(msg)
        ? new QueryLimitError(
            "bytes",
            `query stopped: its result is larger than ${l.maxResultBytes} bytes (COSTLINE_QUERY_MAX_RESULT_BYTES); add a LIMIT or aggregate`,
            413,
            { cause: err },
          )
        : new QueryLimitError(
            "rows",
            `query stopped: its result has more than ${l.maxResultRows} rows (COSTLINE_QUERY_MAX_RESULT_ROWS); add a LIMIT or aggregate`,
            413,
            { cause: err },
          );
    case "memory":
      return new QueryLimitError(
        "memory",
        `query stopped: it needed more than ${l.maxMemoryBytes} bytes of memory (COSTLINE_QUERY_MAX_MEMORY_BYTES)`,
        413,
        { cause: err },
      );
    case "cancelled":
      return new QueryLimitError("cancelled", "query cancelled", 499, { cause: err });
    case "readonly":
      return new QueryLimitError("readonly", "read-only SQL: the statement tried to change something", 400, { cause: err });
    default:
      return undefined;
  }
}
