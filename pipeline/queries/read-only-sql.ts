// Guards `costline sql`: one read-only statement, no file or network table
// functions. (The embedded engine has no per-query readonly mode that would
// not leak into the session, so the check is on the statement itself.) The
// text check runs twice: on what was sent, and on ClickHouse's own formatting
// of it (normalizeReadOnly), so comments and quoted names cannot hide a
// `file(` or an `INTO OUTFILE`; the formatted text is what runs.
import type { ClickHouseClient } from "@clickhouse/client";
import { queryRows } from "../clickhouse/client.ts";
import { PermanentError, errorMessage } from "../errors.ts";

const READ = /^\s*(SELECT|WITH|SHOW|DESCRIBE|DESC|EXPLAIN|EXISTS)\b/i;
const FORBIDDEN =
  /\b(INTO\s+OUTFILE|(file|url|s3|hdfs|azureBlobStorage|gcs|iceberg\w*|deltaLake\w*|hudi\w*)(Cluster)?|remote|remoteSecure|mysql|postgresql|sqlite|mongodb|redis|executable|jdbc|odbc|input)\s*\(|\bINTO\s+OUTFILE\b|\bSETTINGS\b/i;

export function checkReadOnly(sql: string): string {
  const trimmed = sql.trim().replace(/;\s*$/, "");
  if (trimmed === "") throw new PermanentError("validation", "empty query");
  if (trimmed.length > 100_000) throw new PermanentError("validation", "query longer than 100,000 characters");
  if (trimmed.includes(";")) throw new PermanentError("validation", "one statement only");
  if (!READ.test(trimmed)) throw new PermanentError("validation", "read-only: SELECT, WITH, SHOW, DESCRIBE, EXPLAIN or EXISTS only");
  if (FORBIDDEN.test(trimmed)) throw new PermanentError("validation", "read-only: table functions that reach files or other systems, INTO OUTFILE and SETTINGS are not allowed");
  return trimmed;
}

/** checkReadOnly, then again on the statement as ClickHouse parses and formats it; returns the formatted statement to run. */
export async function normalizeReadOnly(client: ClickHouseClient, sql: string): Promise<string> {
  const checked = checkReadOnly(sql);
  let formatted: string | undefined;
  try {
    [{ q: formatted } = { q: undefined }] = await queryRows<{ q: string }>(client, "SELECT formatQuerySingleLine({q:String}) AS q", { q: checked });
  } catch (err) {
    // ClickHouse quotes the whole wrapping query after "In scope"; the position says enough.
    const why = errorMessage(err).split(/\s+In scope\b/)[0]!.trim();
    throw new PermanentError("validation", `not a statement ClickHouse can parse: ${why}`);
  }
  if (!formatted) throw new PermanentError("validation", "not a statement ClickHouse can parse");
  return checkReadOnly(formatted);
}
