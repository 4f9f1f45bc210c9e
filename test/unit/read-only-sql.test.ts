import { describe, expect, it } from "vitest";
import { checkReadOnly, checkTree, qualifyTables } from "../../pipeline/queries/read-only-sql.ts";
import { parseExplainAst } from "../../pipeline/queries/sql-ast.ts";
import { inlineParams } from "../../pipeline/queries/inline-params.ts";
import { limitError, withLimits, defaultQueryLimits } from "../../pipeline/queries/query-limits.ts";
import { regexHazard } from "../../schemas/regex-safety.ts";
import { matcherInputSchema } from "../../schemas/notify.ts";
import { matches } from "../../pipeline/notify/labels.ts";
import { lruTtl } from "../../pipeline/api/key-cache.ts";
import { hasLoneSurrogate } from "../../pipeline/queries/sql-literal.ts";

describe("checkReadOnly (the text checks before the parse)", () => {
  it.each([
    "SELECT 1",
    "  with x as (select 1) select * from x;",
    "(SELECT 1)",
    "SELECT ';' AS semi",
    "SELECT 1 -- a comment; with a semicolon",
  ])("allows %j", (q) => expect(() => checkReadOnly(q)).not.toThrow());
  it.each([
    ["INSERT INTO costline.ledger VALUES (1)", /SELECT/],
    ["DROP TABLE costline.ledger", /SELECT/],
    ["SHOW TABLES FROM costline", /SELECT/],
    ["SELECT 1; DROP TABLE costline.ledger", /one statement/],
    ["SELECT 1 AS `a\n TableIdentifier costline.ledger`", /control characters/],
    ["SELECT 1 AS `a\\nb`", /backslashes/],
    ["SELECT 'unterminated", /unterminated/],
    ["SELECT '\ud800'", /surrogate/],
    ["", /empty/],
  ])("refuses %j", (q, why) => expect(() => checkReadOnly(q)).toThrow(why));
});

// EXPLAIN AST text as ClickHouse 26 prints it.
const ast = (lines: string[]) => parseExplainAst(lines.join("\n"));
const tables = new Set(["ledger", "alerts"]);
const current = { db: "default", names: new Set(["secrets"]) };
const select = (from: string[]) => [
  "SelectWithUnionQuery (children 1)",
  " ExpressionList (children 1)",
  "  SelectQuery (children 2)",
  "   ExpressionList (children 1)",
  "    Asterisk",
  "   TablesInSelectQuery (children 1)",
  "    TablesInSelectQueryElement (children 1)",
  "     TableExpression (children 1)",
  ...from.map((l) => `      ${l}`),
];

describe("the allowlist on the parse", () => {
  it("reads costline's tables and named system tables", () => {
    expect(() => checkTree(ast(select(["TableIdentifier costline.ledger (alias l)"])), tables, current)).not.toThrow();
    expect(() => checkTree(ast(select(["TableIdentifier system.tables"])), tables, current)).not.toThrow();
  });
  it.each([
    [["Function filesystem (children 1)", " ExpressionList (children 1)", "  Literal \\'/etc\\'"], /table functions/],
    [["Function paimonS3 (children 1)", " ExpressionList (children 1)", "  Literal \\'http://127.0.0.1:1/x\\'"], /table functions/],
    [["TableIdentifier system.users"], /only costline's own tables/],
    [["TableIdentifier costline.api_keys"], /only costline's own tables/],
    [["TableIdentifier other.t"], /only costline's own tables/],
    [["TableIdentifier secrets"], /name tables with their database/],
  ])("refuses %j", (from, why) => expect(() => checkTree(ast(select(from)), tables, current)).toThrow(why));
  it("refuses SETTINGS, FORMAT and a forged parse", () => {
    const withSet = [
      "SelectWithUnionQuery (children 1)",
      " ExpressionList (children 1)",
      "  SelectQuery (children 2)",
      "   ExpressionList (children 1)",
      "    Literal UInt64_1",
      "   Set",
    ];
    expect(() => checkTree(ast(withSet), tables, current)).toThrow(/SETTINGS/);
    const withFormat = [
      "SelectWithUnionQuery (children 2)",
      " ExpressionList (children 1)",
      "  SelectQuery (children 1)",
      "   ExpressionList (children 1)",
      "    Literal UInt64_1",
      " Identifier JSON",
    ];
    expect(() => checkTree(ast(withFormat), tables, current)).toThrow(/FORMAT/);
    // A name holding a newline adds a line its parent did not declare.
    expect(() =>
      ast([
        "SelectWithUnionQuery (children 1)",
        " ExpressionList (children 1)",
        "  Literal UInt64_1 (alias a",
        "   TableIdentifier costline.ledger)",
      ]),
    ).toThrow(/unambiguously/);
  });
  it("refuses functions that reach files, dictionaries or the host", () => {
    for (const f of ["file", "dictGet", "joinGet", "hostName", "sleepEachRow", "addressToLine"]) {
      const t = [
        "SelectWithUnionQuery (children 1)",
        " ExpressionList (children 1)",
        "  SelectQuery (children 1)",
        "   ExpressionList (children 1)",
        `    Function ${f} (children 1)`,
        "     ExpressionList",
      ];
      expect(() => checkTree(ast(t), tables, current), f).toThrow(/not allowed/);
    }
  });
});

describe("server-set bounds", () => {
  it("appends them after the statement, or to its own SETTINGS", () => {
    expect(withLimits("SELECT 1", defaultQueryLimits, "t1")).toMatch(
      /^SELECT 1\nSETTINGS readonly = 2, max_execution_time = 10, .*result_overflow_mode = 'throw'.*log_comment = 't1'$/,
    );
    expect(withLimits("SELECT 1 SETTINGS max_threads = 1", defaultQueryLimits, "t1")).toMatch(/max_threads = 1, readonly = 2/);
  });
  it("names the bound a ClickHouse error reports, as a 4xx", () => {
    expect(limitError(new Error("Code: 159. DB::Exception: Timeout exceeded"), defaultQueryLimits)).toMatchObject({
      bound: "time",
      status: 408,
    });
    expect(limitError(new Error("Code: 396. DB::Exception: Limit for result exceeded, max rows: 10.00"), defaultQueryLimits)).toMatchObject(
      { bound: "rows", status: 413 },
    );
    expect(limitError(new Error("Code: 241. DB::Exception: Memory limit exceeded"), defaultQueryLimits)).toMatchObject({
      bound: "memory",
      status: 413,
    });
    expect(limitError(new Error("Code: 60. Unknown table"), defaultQueryLimits)).toBeUndefined();
  });
  it("inlines parameters as quoted, cast literals", () => {
    expect(inlineParams("SELECT {t:String}, {n:UInt32}, {a:Array(String)}", { t: "it's \\ x", n: 4294967295, a: ["a", "b'"] })).toBe(
      "SELECT 'it\\'s \\\\ x', CAST('4294967295' AS UInt32), CAST(['a', 'b\\''] AS Array(String))",
    );
    expect(() => inlineParams("SELECT {t:String}", {})).toThrow(/not set/);
  });
});

describe("linear-time matchers", () => {
  it.each(["(a)\\1", "(?=a)a", "(?<=a)b", "(?!a)b", "(?<!a)b", "(unclosed", "a{2,1}"])("refuses %j", (p) =>
    expect(regexHazard(p)).toBeDefined(),
  );
  it.each([
    "(a+)+$",
    "(a|ab)*",
    "(\\d+)+",
    "((a+)b)*",
    ".*a.*b.*c.*d",
    "spike|creep",
    "gpt-4o.*",
    "(foo|bar)-.*",
    "x{2,5}",
    "acme|initech",
  ])("allows %j", (p) => expect(regexHazard(p)).toBeUndefined());
  it("route, inhibition and silence matchers refuse what the linear engine cannot run when parsed", () => {
    const bad = matcherInputSchema.safeParse('model=~"(a)\\1"');
    expect(bad.success).toBe(false);
    expect(JSON.stringify(bad.error?.issues)).toMatch(/regular expression refused: back-references and lookarounds/);
    expect(matcherInputSchema.safeParse('model=~"(a+)+$"').success).toBe(true);
    expect(matcherInputSchema.safeParse('type=~"spike|creep"').success).toBe(true);
  });
  it("matches the classic catastrophic pattern against hostile values without backtracking", () => {
    // In a backtracking engine 29 characters took 17 s; these would never finish.
    const hostile = "a".repeat(1000) + "!";
    expect(matches({ name: "model", op: "=~", value: "(a+)+$" }, { model: hostile.slice(0, 1000) })).toBe(true);
    expect(matches({ name: "model", op: "=~", value: "(a+)+$" }, { model: hostile })).toBe(false);
    expect(matches({ name: "model", op: "!~", value: "(a|aa)*b" }, { model: hostile })).toBe(true);
    expect(matches({ name: "model", op: "=~", value: ".*a.*a.*a.*a.*b" }, { model: hostile })).toBe(false);
  });
  it("a stored pattern the engine cannot run silences nothing", () => {
    expect(matches({ name: "model", op: "=~", value: "(a)\\1" }, { model: "aa" })).toBe(false);
    expect(matches({ name: "model", op: "!~", value: "(a)\\1" }, { model: "b" })).toBe(false);
  });
});

describe("the key cache", () => {
  it("is bounded, least recently used first, and forgets after its TTL", () => {
    let now = 0;
    const c = lruTtl<string | null>(2, 100, () => now);
    c.set("a", "A");
    c.set("b", null);
    expect(c.get("a")).toBe("A"); // a is now the most recent
    c.set("c", "C");
    expect(c.get("b")).toBeUndefined();
    expect(c.size).toBe(2);
    now = 150;
    expect(c.get("a")).toBeUndefined();
  });
  it("knows a lone surrogate", () => {
    expect(hasLoneSurrogate("ok \ud83d\ude00")).toBe(false);
    expect(hasLoneSurrogate("bad \ud800")).toBe(true);
    expect(hasLoneSurrogate("\udc00 bad")).toBe(true);
  });
});

describe("qualifyTables (costline's tables without their database)", () => {
  const names = new Set(["ledger", "ledger_minute"]);
  it.each([
    ["SELECT count() FROM ledger", "SELECT count() FROM costline.ledger"],
    [
      "SELECT * FROM ledger AS l INNER JOIN ledger_minute USING (tenant)",
      "SELECT * FROM costline.ledger AS l INNER JOIN costline.ledger_minute USING (tenant)",
    ],
    [
      "SELECT tenant FROM ledger FINAL WHERE x IN (SELECT x FROM ledger_minute)",
      "SELECT tenant FROM costline.ledger FINAL WHERE x IN (SELECT x FROM costline.ledger_minute)",
    ],
    // Quoted text stays as written; a name the statement defines as a CTE may mean the CTE.
    ["SELECT 'FROM ledger' FROM ledger", "SELECT 'FROM ledger' FROM costline.ledger"],
    ["WITH ledger AS (SELECT 1) SELECT * FROM ledger", "WITH ledger AS (SELECT 1) SELECT * FROM ledger"],
    ["SELECT * FROM costline.ledger", "SELECT * FROM costline.ledger"],
    ["SELECT * FROM ledger_hour", "SELECT * FROM ledger_hour"],
  ])("%j → %j", (sql, expected) => expect(qualifyTables(sql, names)).toBe(expected));
});
