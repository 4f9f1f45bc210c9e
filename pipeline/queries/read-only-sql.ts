// Guards `costline sql`: one read-only statement, no file or network table
// functions. (The embedded engine has no per-query readonly mode that would
// not leak into the session, so the check is on the statement itself.)
import { PermanentError } from "../errors.ts";

const READ = /^\s*(SELECT|WITH|SHOW|DESCRIBE|DESC|EXPLAIN|EXISTS)\b/i;
const FORBIDDEN =
  /\b(INTO\s+OUTFILE|file|url|s3|s3Cluster|hdfs|remote|remoteSecure|mysql|postgresql|sqlite|mongodb|executable|jdbc|odbc|azureBlobStorage|gcs|input)\s*\(|\bINTO\s+OUTFILE\b|\bSETTINGS\b/i;

export function checkReadOnly(sql: string): string {
  const trimmed = sql.trim().replace(/;\s*$/, "");
  if (trimmed === "") throw new PermanentError("validation", "empty query");
  if (trimmed.length > 100_000) throw new PermanentError("validation", "query longer than 100,000 characters");
  if (trimmed.includes(";")) throw new PermanentError("validation", "one statement only");
  if (!READ.test(trimmed)) throw new PermanentError("validation", "read-only: SELECT, WITH, SHOW, DESCRIBE, EXPLAIN or EXISTS only");
  if (FORBIDDEN.test(trimmed)) throw new PermanentError("validation", "read-only: table functions that reach files or other systems, INTO OUTFILE and SETTINGS are not allowed");
  return trimmed;
}
