// The guard on caller-written SQL (`/v1/sql`, `costline sql`, the dashboards'
// queries): an allowlist decided on ClickHouse's own parse of the statement.
// Allowed: one SELECT (WITH …, UNION, INTERSECT, EXCEPT, subqueries, joins)
// reading costline's own tables and views and a few system tables. Refused:
// any other statement, every table function (file, url, s3, remote, paimon…,
// numbers too: the allowlist names no function), functions that reach files,
// dictionaries, other tables or the host, and SETTINGS / FORMAT / INTO OUTFILE
// from the caller — the server adds its own bounds (query-limits.ts).
//
// The text check (checkReadOnly) runs first and alone in the CLI; the parse
// check (guardSelect) needs the engine. The statement that runs is
// ClickHouse's formatting of what was checked, never the caller's text.
import type { ClickHouseClient } from "@clickhouse/client";
import { PermanentError, errorMessage } from "../errors.ts";
import { nodeName, parseExplainAst, walk, type AstNode } from "./sql-ast.ts";
import { hasLoneSurrogate, quoteString } from "./sql-literal.ts";

export const MAX_SQL_CHARS = 100_000;

/**
 * System tables a caller may read: structure and progress, never logs, users,
 * settings or other databases' data. (numbers is endless; the time and result bounds stop it.)
 */
export const ALLOWED_SYSTEM_TABLES = new Set(["one", "numbers", "tables", "columns", "parts", "functions", "processes"]);

/** costline tables the SQL surface never shows: API key hashes. */
const HIDDEN_TABLES = new Set(["api_keys"]);

/** AST node kinds a plain SELECT is made of; anything else (SET, INSERT, query parameters, …) is refused. */
const NODE_KINDS = new Set([
  "SelectWithUnionQuery",
  "SelectIntersectExceptQuery",
  "SelectQuery",
  "ExpressionList",
  "WithElement",
  "Subquery",
  "Literal",
  "Identifier",
  "Function",
  "Asterisk",
  "QualifiedAsterisk",
  "ColumnsRegexpMatcher",
  "ColumnsListMatcher",
  "QualifiedColumnsRegexpMatcher",
  "QualifiedColumnsListMatcher",
  "ColumnsTransformerList",
  "ColumnsApplyTransformer",
  "ColumnsExceptTransformer",
  "ColumnsReplaceTransformer",
  "ColumnsReplaceTransformerReplacement",
  "TablesInSelectQuery",
  "TablesInSelectQueryElement",
  "TableExpression",
  "TableIdentifier",
  "TableJoin",
  "ArrayJoin",
  "OrderByElement",
  "WindowDefinition",
  "WindowListElement",
  "SampleRatio",
  "InterpolateElement",
  "LimitByExpression",
  "TupleLiteral",
  "Alias",
  "ExpressionElement",
]);

/** Scalar functions that read files, dictionaries, other tables, the host or the engine's internals, or just wait. */
const FORBIDDEN_FUNCTIONS = new Set([
  "file",
  "input",
  "joinget",
  "joingetornull",
  "catboostevaluate",
  "evalmlmethod",
  "modelevaluate",
  "getmacro",
  "getserversetting",
  "getmergetreesetting",
  "getsetting",
  "getsettingordefault",
  "hostname",
  "fqdn",
  "fullhostname",
  "sleep",
  "sleepeachrow",
  "demangle",
  "tcpport",
  "serveruuid",
  "getclienthttpheader",
  "globalvariable",
  "getoskernelversion",
  "buildid",
  "uptime",
  "hascolumnintable",
  "generateserialid",
  "currentprofiles",
  "enabledprofiles",
  "defaultprofiles",
  "currentroles",
  "enabledroles",
  "defaultroles",
  "getsizeofenumtype",
  "shardnum",
  "shardcount",
  "displayname",
  "revision",
  "zookeepersessionuptime",
  "connectionid",
  "connection_id",
  "transactionid",
  "transactionlatestsnapshot",
  "transactionoldestsnapshot",
  "filesystemavailable",
  "filesystemcapacity",
  "filesystemunreserved",
  "gethttpheader",
  "initialqueryid",
  "queryid",
  "initialquerystarttime",
]);
const FORBIDDEN_PREFIXES = ["dict", "addressto", "__", "filesystem", "icebergs", "s3", "url", "remote", "mysql", "postgresql"];
/** IN-like functions whose right side may name a table, which is then read. */
const TABLE_OPERAND_FUNCTIONS = new Set([
  "in",
  "notin",
  "globalin",
  "globalnotin",
  "nullin",
  "notnullin",
  "globalnullin",
  "globalnotnullin",
]);

const READ = /^\s*(SELECT|WITH|\()/i;

function refuse(message: string): never {
  throw new PermanentError("validation", `read-only SQL: ${message}`);
}

/**
 * The checks that need no engine: size, one statement, a SELECT, and no
 * quoted name holding a control character or a backslash (EXPLAIN AST prints
 * names raw, so such a name could disguise the parse). Returns the trimmed statement.
 */
export function checkReadOnly(sql: string): string {
  const trimmed = sql.trim().replace(/;\s*$/, "");
  if (trimmed === "") throw new PermanentError("validation", "empty query");
  if (trimmed.length > MAX_SQL_CHARS) refuse(`query longer than ${MAX_SQL_CHARS.toLocaleString("en")} characters`);
  if (!READ.test(trimmed)) refuse("a SELECT (or WITH … SELECT) only");
  if (hasLoneSurrogate(trimmed)) refuse("the query holds invalid text (a lone UTF-16 surrogate)");
  scanQuoted(trimmed);
  return trimmed;
}

/** Walks literals, quoted names and comments: one statement, plain quoted names. */
function scanQuoted(sql: string): void {
  for (let i = 0; i < sql.length; i++) {
    const c = sql[i]!;
    if (c === "'" || c === "`" || c === '"') {
      let j = i + 1;
      for (; j < sql.length; j++) {
        const d = sql[j]!;
        if (d === "\\") {
          if (c !== "'") refuse("backslashes are not allowed in quoted names");
          j++;
          continue;
        }
        if (c !== "'" && d.charCodeAt(0) < 0x20) refuse("control characters are not allowed in quoted names");
        if (d === c) {
          if (sql[j + 1] === c) {
            j++;
            continue;
          }
          break;
        }
      }
      if (j >= sql.length) refuse(`unterminated ${c === "'" ? "string" : "quoted name"}`);
      i = j;
    } else if (c === "-" && sql[i + 1] === "-") {
      const end = sql.indexOf("\n", i);
      i = end === -1 ? sql.length : end;
    } else if (c === "#" && sql[i + 1] === "!") {
      refuse("comments starting #! are not allowed");
    } else if (c === "/" && sql[i + 1] === "*") {
      const end = sql.indexOf("*/", i + 2);
      if (end === -1) refuse("unterminated comment");
      i = end + 1;
    } else if (c === ";") {
      refuse("one statement only");
    }
  }
}

export interface GuardOptions {
  /** costline's own tables and views (default: read from system.tables). */
  tables?: ReadonlySet<string>;
}

/**
 * checkReadOnly, then the allowlist on ClickHouse's parse of the statement.
 * Returns the statement as ClickHouse formats it: that is what runs.
 */
export async function guardSelect(client: ClickHouseClient, sql: string, opts: GuardOptions = {}): Promise<string> {
  const checked = checkReadOnly(sql);
  // Values inlined as literals, not bound: bound queries share one queue in the embedded engine.
  const [formatted] = await engineColumn(client, `SELECT formatQuerySingleLine(${quoteString(checked)}) AS v`);
  if (!formatted) refuse("not a statement ClickHouse can parse");
  checkReadOnly(formatted);
  // As a subquery, so the client's own FORMAT clause lands on the outer SELECT, not in the parse.
  const ast = parseExplainAst((await engineColumn(client, `SELECT explain AS v FROM (EXPLAIN AST ${formatted})`)).join("\n"));
  const tables = opts.tables ?? (await costlineTables(client));
  const current = await currentDatabaseTables(client);
  checkTree(ast, tables, current);
  // `FROM ledger` means costline.ledger (the default database is another): qualified, then checked again as written.
  const qualified = current.db === "costline" ? formatted : qualifyTables(formatted, unqualifiedTables(ast, tables));
  if (qualified === formatted) return formatted;
  checkReadOnly(qualified);
  const again = parseExplainAst((await engineColumn(client, `SELECT explain AS v FROM (EXPLAIN AST ${qualified})`)).join("\n"));
  checkTree(again, tables, current);
  return qualified;
}

/** costline's tables named without their database. */
function unqualifiedTables(ast: AstNode, tables: ReadonlySet<string>): Set<string> {
  const out = new Set<string>();
  for (const { node } of walk(ast)) {
    if (node.kind !== "TableIdentifier") continue;
    const name = nodeName(node);
    if (!name.includes(".") && tables.has(name)) out.add(name);
  }
  return out;
}

/**
 * Writes `FROM t` and `JOIN t` as `FROM costline.t` for each of `names`, in
 * ClickHouse's formatting of a statement, outside quoted text. A name the
 * statement also defines (`t AS (…)`, a CTE) is left alone: it may mean the CTE.
 */
export function qualifyTables(formatted: string, names: ReadonlySet<string>): string {
  if (names.size === 0) return formatted;
  // The statement in pieces: quoted (kept as is) and plain text (where the names are looked for).
  const pieces: { text: string; quoted: boolean }[] = [];
  let plain = "";
  for (let i = 0; i < formatted.length; i++) {
    const c = formatted[i]!;
    if (c !== "'" && c !== "`" && c !== '"') {
      plain += c;
      continue;
    }
    let j = i + 1;
    for (; j < formatted.length; j++) {
      if (formatted[j] === "\\") j++;
      else if (formatted[j] === c) {
        if (formatted[j + 1] === c) j++;
        else break;
      }
    }
    pieces.push({ text: plain, quoted: false }, { text: formatted.slice(i, j + 1), quoted: true });
    plain = "";
    i = j;
  }
  pieces.push({ text: plain, quoted: false });
  const unquoted = pieces
    .filter((p) => !p.quoted)
    .map((p) => p.text)
    .join(" ");
  const rewrite = [...names].filter((n) => /^[A-Za-z_][A-Za-z0-9_]*$/.test(n) && !new RegExp(`\\b${n}\\s+AS\\s+\\(`).test(unquoted));
  if (rewrite.length === 0) return formatted;
  const ref = new RegExp(`\\b(FROM|JOIN)\\s+(${rewrite.join("|")})\\b(?!\\s*[.(])`, "g");
  return pieces.map((p) => (p.quoted ? p.text : p.text.replace(ref, "$1 costline.$2"))).join("");
}

/** Kept for callers of the old name: the guard, returning the statement to run. */
export const normalizeReadOnly = guardSelect;

/** Column `v` of a server-written query, one string a row. */
async function engineColumn(client: ClickHouseClient, query: string): Promise<string[]> {
  try {
    const rs = await client.query({ query, format: "JSONEachRow" });
    return (await rs.json<{ v: string }>()).map((r) => String(r.v));
  } catch (err) {
    // ClickHouse quotes the whole wrapping query after "In scope"; the position says enough.
    const why = errorMessage(err)
      .split(/\s+In scope\b/)[0]!
      .trim();
    if (/cannot have output options/.test(why)) refuse("FORMAT and INTO OUTFILE are set by the server, not the query");
    refuse(`not a statement ClickHouse can parse: ${why}`);
  }
}

export async function costlineTables(client: ClickHouseClient): Promise<Set<string>> {
  const names = await engineColumn(client, "SELECT name AS v FROM system.tables WHERE database = 'costline'");
  return new Set(names.filter((n) => !HIDDEN_TABLES.has(n)));
}

/** Tables of the session's default database: an unqualified name must not reach one (CTE names are fine). */
async function currentDatabaseTables(client: ClickHouseClient): Promise<{ db: string; names: Set<string> }> {
  const [db = "default"] = await engineColumn(client, "SELECT currentDatabase() AS v");
  const names = await engineColumn(client, "SELECT name AS v FROM system.tables WHERE database = currentDatabase()");
  return { db, names: new Set(names.filter(Boolean)) };
}

export function checkTree(ast: AstNode, tables: ReadonlySet<string>, current: { db: string; names: Set<string> }): void {
  if (ast.kind !== "SelectWithUnionQuery") refuse("a SELECT (or WITH … SELECT) only");
  // A top-level FORMAT, INTO OUTFILE or SETTINGS hangs off the root beside the query list.
  if (ast.children.length !== 1) refuse("FORMAT, INTO OUTFILE and SETTINGS are set by the server, not the query");
  for (const { node } of walk(ast)) {
    if (!NODE_KINDS.has(node.kind)) {
      refuse(
        node.kind === "Set"
          ? "SETTINGS are set by the server, not the query"
          : node.kind === "QueryParameter"
            ? "query parameters cannot be bound here; write the value"
            : `${node.kind} is not allowed`,
      );
    }
    if (node.kind === "TableExpression" && node.children[0]?.kind === "Function") {
      refuse(`table functions are not allowed (${nodeName(node.children[0])}); read costline.<table>`);
    }
    if (node.kind === "TableIdentifier") checkTable(nodeName(node), tables, current);
    if (node.kind === "Function") {
      const name = nodeName(node).toLowerCase();
      if (FORBIDDEN_FUNCTIONS.has(name) || FORBIDDEN_PREFIXES.some((p) => name.startsWith(p)))
        refuse(`function ${nodeName(node)} is not allowed`);
      if (TABLE_OPERAND_FUNCTIONS.has(name)) {
        const right = node.children[0]?.children[1];
        if (right?.kind === "Identifier" || right?.kind === "TableIdentifier") checkTable(nodeName(right), tables, current);
      }
    }
  }
}

function checkTable(name: string, tables: ReadonlySet<string>, current: { db: string; names: Set<string> }): void {
  const dot = name.indexOf(".");
  if (dot === -1) {
    // Unqualified: a CTE's name (or, after IN, maybe a column) — unless it names a table of the default database.
    if (current.db === "costline" ? tables.has(name) : false) return;
    if (current.names.has(name)) refuse(`name tables with their database: costline.<table> (${name})`);
    return;
  }
  const db = name.slice(0, dot);
  const table = name.slice(dot + 1);
  if (db === "costline" && tables.has(table)) return;
  if (db === "system" && ALLOWED_SYSTEM_TABLES.has(table)) return;
  refuse(`only costline's own tables and system.{${[...ALLOWED_SYSTEM_TABLES].join(",")}} can be read (${name})`);
}
