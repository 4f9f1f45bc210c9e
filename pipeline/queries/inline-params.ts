// Binds `{name:Type}` placeholders as literals in SQL the server wrote itself.
// Used for analytic queries on the embedded engine only: chdb's binder runs
// every bound query of the process through one queue, so a slow bound report
// would hold the ledger sink's bound look-ups behind it. Values are quoted
// (sql-literal.ts) and cast to the placeholder's type; caller-written SQL never
// comes here (the read-only guard refuses placeholders in it).
import { quoteString } from "./sql-literal.ts";

const PLACEHOLDER = /\{([A-Za-z_][A-Za-z0-9_]*):([^{}]+)\}/g;

function literal(v: unknown, type: string): string {
  if (v instanceof Date) return `CAST(${quoteString(v.toISOString().replace("T", " ").replace("Z", ""))} AS ${type})`;
  if (Array.isArray(v)) return `CAST([${v.map((x) => literal(x, "String")).join(", ")}] AS ${type})`;
  if (typeof v === "number" || typeof v === "bigint") {
    if (typeof v === "number" && !Number.isFinite(v)) throw new Error(`not a finite number: ${v}`);
    return `CAST(${quoteString(String(v))} AS ${type})`;
  }
  if (typeof v === "boolean") return v ? "true" : "false";
  if (typeof v === "string") return type.trim() === "String" ? quoteString(v) : `CAST(${quoteString(v)} AS ${type})`;
  throw new Error(`cannot inline a ${typeof v} parameter`);
}

export function inlineParams(sql: string, params: Record<string, unknown>): string {
  return sql.replace(PLACEHOLDER, (_whole, name: string, type: string) => {
    if (!(name in params)) throw new Error(`query parameter ${name} is not set`);
    return literal(params[name], type);
  });
}
