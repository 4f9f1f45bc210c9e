// How a ClickHouse HTTP request becomes one statement for the embedded
// engine: parameters in ClickHouse's text form bound as cast literals,
// settings into the statement (never session-wide), inserts bound in their
// head only, and which statements answer with rows.
import { describe, expect, it } from "vitest";
import {
  HttpRequestError,
  bindHttpParams,
  bindInsert,
  requestSettings,
  returnsRows,
  withSettings,
} from "../../pipeline/clickhouse/http-request.ts";

describe("parameters", () => {
  it("binds a String from its escaped text form, and other types from their text, cast", () => {
    expect(bindHttpParams("SELECT {s:String}", { s: "o\\'hara\\ttab\\\\" })).toBe("SELECT CAST('o\\'hara\ttab\\\\' AS String)");
    expect(bindHttpParams("SELECT {a:Array(String)}", { a: "['a','b\\'c']" })).toBe(
      "SELECT CAST('[\\'a\\',\\'b\\\\\\'c\\']' AS Array(String))",
    );
    expect(bindHttpParams("SELECT {t:DateTime64(3, 'UTC')}", { t: "2026-11-22 10:00:00.000" })).toBe(
      "SELECT CAST('2026-11-22 10:00:00.000' AS DateTime64(3, 'UTC'))",
    );
    expect(bindHttpParams("SELECT {n:Nullable(String)}", { n: "\\N" })).toBe("SELECT CAST(NULL AS Nullable(String))");
    expect(() => bindHttpParams("SELECT {x:String}", {})).toThrow(HttpRequestError);
  });

  it("binds an INSERT's statement and never the data after FORMAT", () => {
    const sql = "INSERT INTO t SELECT * FROM s WHERE id = {id:String}";
    expect(bindInsert(sql, { id: "a" }, {})).toBe("INSERT INTO t SELECT * FROM s WHERE id = CAST('a' AS String)");
    const withData = 'INSERT INTO t FORMAT JSONEachRow\n{"id":"{id:String}"}';
    expect(bindInsert(withData, { id: "a" }, {})).toBe(withData);
    expect(bindInsert(withData, {}, { async_insert: "0" })).toBe(
      'INSERT INTO t SETTINGS async_insert = 0 FORMAT JSONEachRow\n{"id":"{id:String}"}',
    );
    expect(bindInsert("INSERT INTO t SETTINGS a = 1 FORMAT JSONEachRow\n{}", {}, { b: "x" })).toBe(
      "INSERT INTO t SETTINGS a = 1, b = 'x' FORMAT JSONEachRow\n{}",
    );
  });
});

describe("settings", () => {
  const url = (q: string) => new URL(`http://h/?${q}`);
  it("are the URL parameters that are not the interface's own; a reader gets output and bound settings only", () => {
    const q =
      "query=x&default_format=JSON&param_a=1&enable_http_compression=1&max_execution_time=5&readonly=0&output_format_json_quote_64bit_integers=0";
    expect(requestSettings(url(q), "writer")).toEqual({
      max_execution_time: "5",
      readonly: "0",
      output_format_json_quote_64bit_integers: "0",
    });
    expect(requestSettings(url(q), "reader")).toEqual({ max_execution_time: "5", output_format_json_quote_64bit_integers: "0" });
    expect(() => requestSettings(url("bad%20name=1"), "writer")).toThrow(HttpRequestError);
  });

  it("join the statement's own SETTINGS clause, or start one", () => {
    expect(withSettings("SELECT 1", { a: "1" })).toBe("SELECT 1\nSETTINGS a = 1");
    expect(withSettings("SELECT 1 SETTINGS b = 2", { a: "x'y" })).toBe("SELECT 1 SETTINGS b = 2, a = 'x\\'y'");
    expect(withSettings("SELECT 1", {})).toBe("SELECT 1");
  });
});

it("tells reads from other statements, past leading comments", () => {
  expect(returnsRows("-- the warm start\n-- more\nSELECT 1")).toBe(true);
  expect(returnsRows("/* c */ WITH x AS (SELECT 1) SELECT * FROM x")).toBe(true);
  expect(returnsRows("CREATE TABLE t (a String) ENGINE = Memory")).toBe(false);
  expect(returnsRows("-- SELECT\nALTER TABLE t DELETE WHERE 1")).toBe(false);
});
