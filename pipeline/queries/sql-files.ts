// Loads the SQL files of clickhouse/queries; every value in them is a bound parameter.
import { readFileSync } from "node:fs";
import path from "node:path";
import { packagePath } from "../package-root.ts";

const dir = packagePath("clickhouse", "queries");
const cache = new Map<string, string>();

export function sqlFile(name: string): string {
  let text = cache.get(name);
  if (text === undefined) {
    text = readFileSync(path.join(dir, `${name}.sql`), "utf8");
    cache.set(name, text);
  }
  return text;
}
