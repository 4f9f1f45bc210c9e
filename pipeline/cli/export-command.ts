// `costline export focus --from ISO --to ISO [--format csv|parquet] [--tenant T] [--output FILE]`:
// the FOCUS 1.2 export of a running stack's ledger (through its API), to a file or stdout.
import { createWriteStream } from "node:fs";
import type { Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { Config } from "../config/config.ts";
import { CostlineError } from "../errors.ts";
import { focusQuerySchema, focusExport } from "../exports/focus-export.ts";
import { migrate } from "../clickhouse/migrate.ts";
import { apiCall, ledgerAccess } from "./stack-client.ts";

export interface FocusExportOptions {
  from?: string;
  to?: string;
  format?: string;
  tenant?: string;
  output?: string;
}

export async function runFocusExport(config: Config, opts: FocusExportOptions): Promise<void> {
  const q = focusQuerySchema.safeParse({ from: opts.from, to: opts.to, format: opts.format, tenant: opts.tenant });
  if (!q.success) throw new CostlineError(q.error.issues.map((i) => `--${String(i.path[0] ?? "from")}: ${i.message}`).join("; "));
  const out: Writable = opts.output && opts.output !== "-" ? createWriteStream(opts.output) : process.stdout;
  const access = await ledgerAccess(config);
  if (access.kind === "api") {
    const params = new URLSearchParams(Object.entries(q.data).filter(([, v]) => v !== undefined) as [string, string][]);
    const res = await apiCall(config, `${access.url}/v1/exports/focus?${params}`);
    if (!res.ok) {
      const text = await res.text();
      let message = text;
      try {
        message = (JSON.parse(text) as { error?: string }).error ?? text;
      } catch {
        // not JSON: the text as it is
      }
      throw new CostlineError(message);
    }
    await pipeline(res.stream, out);
    return;
  }
  try {
    await migrate(access.db.client, { cluster: config.clickhouse.cluster });
    await pipeline(await focusExport(access.db.client, q.data, config.exports.maxRows), out);
  } finally {
    await access.db.close();
  }
}
