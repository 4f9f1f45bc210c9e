// The folder of costline's package.json, found from this file, so data files
// shipped beside the code (clickhouse/, the OTLP .proto files) resolve the same
// whether the sources run (tests) or the compiled build in dist/ does.
import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

function findRoot(from: string): string {
  for (let dir = from; ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, "package.json"))) return dir;
    if (path.dirname(dir) === dir) throw new Error(`no package.json above ${from}`);
  }
}

export const packageRoot = findRoot(path.dirname(fileURLToPath(import.meta.url)));

/** A path inside the package, e.g. packagePath("clickhouse", "queries"). */
export function packagePath(...parts: string[]): string {
  return path.join(packageRoot, ...parts);
}
