// Reads NDJSON (a file or stdin) line by line for `costline publish`: each
// line is parsed and validated on its own; bad lines are reported with their
// line number and the rest are published.
import { createReadStream } from "node:fs";
import { createInterface } from "node:readline";
import type { Readable } from "node:stream";
import { validateEvent } from "../enrich/decode.ts";
import type { CostlineEvent } from "../../schemas/index.ts";

export type NdjsonLine = { line: number; event: CostlineEvent } | { line: number; error: string };

export async function* readNdjson(input: string | Readable): AsyncGenerator<NdjsonLine> {
  const stream = typeof input === "string" ? createReadStream(input, "utf8") : input;
  const rl = createInterface({ input: stream, crlfDelay: Infinity });
  let line = 0;
  for await (const text of rl) {
    line++;
    if (text.trim() === "") continue;
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch (err) {
      yield { line, error: `not JSON: ${(err as Error).message}` };
      continue;
    }
    const r = validateEvent(raw);
    yield r.ok ? { line, event: r.event } : { line, error: `${r.error.reason}: ${r.error.message}` };
  }
}
