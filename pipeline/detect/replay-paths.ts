// `costline detect` over a file or a whole directory of series: a directory
// is replayed file by file into an output directory that mirrors it, in one
// process, so a benchmark of many series does not pay start-up per file.
import { mkdirSync, readdirSync, statSync } from "node:fs";
import path from "node:path";
import { replaySeries } from "./offline.ts";

function csvFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? csvFiles(path.join(dir, e.name)) : e.name.endsWith(".csv") ? [path.join(dir, e.name)] : []))
    .sort();
}

export async function replayPaths(
  input: string,
  output: string,
  name?: string,
  params: Record<string, unknown> = {},
): Promise<{ files: number; rows: number; anomalies: number }> {
  if (!statSync(input).isDirectory()) {
    const r = await replaySeries(input, output, name, params);
    return { files: 1, ...r };
  }
  let rows = 0;
  let anomalies = 0;
  const files = csvFiles(input);
  for (const file of files) {
    const target = path.join(output, path.relative(input, file));
    mkdirSync(path.dirname(target), { recursive: true });
    const r = await replaySeries(file, target, name, params);
    rows += r.rows;
    anomalies += r.anomalies;
  }
  return { files: files.length, rows, anomalies };
}
