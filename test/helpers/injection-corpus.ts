// Hostile strings for the SQL-injection suite: classic SQL, ClickHouse's own
// syntax (query parameters, table functions, system tables), encodings and
// sizes. Each is tried alone and glued to a valid value.
export const injectionPayloads: readonly string[] = [
  "'",
  "''",
  '"',
  "`",
  "\\",
  "\\'",
  "\\\\'",
  "' OR '1'='1",
  "' OR 1=1 --",
  "' OR 1=1 #",
  '" OR ""="',
  "') OR ('1'='1",
  "1) OR (1=1",
  "*/ OR 1=1 /*",
  "-- ",
  "/*",
  "' /* comment */ OR tenant != '",
  "'; DROP TABLE costline.ledger; --",
  "1; DROP TABLE costline.ledger",
  "'; TRUNCATE TABLE costline.ledger; --",
  "'; ALTER TABLE costline.ledger DELETE WHERE 1; --",
  "' UNION SELECT tenant, post_id, model FROM costline.ledger --",
  "' UNION ALL SELECT name, name, name FROM system.tables --",
  "x' UNION ALL SELECT * FROM costline.ledger FINAL --",
  "{tenant:String}",
  "{scope_tenant:String}",
  "{f0:String}",
  "{post_id:String}",
  "{x:Identifier}",
  "' || {tenant:String} || '",
  "\u0000",
  "a\u0000' OR 1=1 --",
  "\u2019 OR 1=1 --",
  "\u02bc OR \u02bc1\u02bc=\u02bc1",
  "\uff07 OR \uff071\uff07=\uff071",
  "\u201c OR \u201d\u201d=\u201d",
  "%",
  "_",
  "*",
  "sec-%",
  "sec-bravo' --",
  "format(JSONEachRow, '{\"tenant\":\"sec-bravo\"}')",
  "' FORMAT JSONEachRow --",
  "system.tables",
  "' AND 1=(SELECT count() FROM system.users) --",
  "file('/etc/passwd', 'LineAsString')",
  "' UNION ALL SELECT line, line, line FROM file('/etc/passwd', 'LineAsString') --",
  "url('http://127.0.0.1:1/x', 'LineAsString')",
  "remote('127.0.0.1', system.one)",
  "' SETTINGS readonly=0 --",
  "\n",
  "\r\nX-Injected: 1",
  "\t' OR 1=1",
  "${7*7}",
  "<script>alert(1)</script>",
  "../../etc/passwd",
  "%27%20OR%201%3D1",
  "'".repeat(500),
  "x".repeat(6000),
];

/** Values of one parameter to try: each payload alone, and glued to `valid` (a value the parameter accepts). */
export function variantsFor(valid: string | undefined): string[] {
  const out = [...injectionPayloads];
  if (valid) for (const p of injectionPayloads.slice(0, 30)) out.push(`${valid}${p}`);
  return out;
}

/** A database error, or SQL, in an answer: what a clean 400 must never carry. */
export const DATABASE_ERROR = /DB::Exception|Code: \d+\.|In scope|Syntax error|failed at position|\bSELECT\b.+\bFROM\b|costline\.(ledger|api_keys)/is;
