// `costline sql` and `costline totals`.
import type { Config } from "../config/config.ts";
import { CostlineError } from "../errors.ts";
import { checkReadOnly, guardSelect } from "../queries/read-only-sql.ts";
import { withLimits } from "../queries/query-limits.ts";
import { ledgerTotals, totalsQuerySchema } from "../queries/totals.ts";
import { migrate } from "../clickhouse/migrate.ts";
import { apiCall, ledgerAccess } from "./stack-client.ts";

export async function runSql(config: Config, query: string): Promise<void> {
  const sql = checkReadOnly(query);
  const access = await ledgerAccess(config);
  if (access.kind === "api") {
    const res = await apiCall(config, `${access.url}/v1/sql`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ query: sql }),
    });
    const text = await res.text();
    if (!res.ok) throw new CostlineError(errorText(text));
    process.stdout.write(text);
    return;
  }
  try {
    // The same allowlist and bounds as /v1/sql (the direct path has no other analytics running).
    const checked = await guardSelect(access.db.client, sql);
    const rs = await access.db.client.query({
      query: withLimits(checked, config.queries.limits, `costline_cli_${process.pid}`),
      format: "JSONEachRow",
    });
    process.stdout.write(await rs.text());
  } finally {
    await access.db.close();
  }
}

export async function runTotals(config: Config, opts: { tenant?: string; from?: string; to?: string }): Promise<void> {
  const q = totalsQuerySchema.safeParse(opts);
  if (!q.success) throw new CostlineError(q.error.issues.map((i) => `--${String(i.path[0])}: ${i.message}`).join("; "));
  const access = await ledgerAccess(config);
  if (access.kind === "api") {
    const params = new URLSearchParams(Object.entries(q.data).filter(([, v]) => v !== undefined) as [string, string][]);
    const res = await apiCall(config, `${access.url}/v1/totals?${params}`);
    const text = await res.text();
    if (!res.ok) throw new CostlineError(errorText(text));
    process.stdout.write(`${text.trim()}\n`);
    return;
  }
  try {
    await migrate(access.db.client, { cluster: config.clickhouse.cluster });
    process.stdout.write(`${JSON.stringify(await ledgerTotals(access.db.client, q.data))}\n`);
  } finally {
    await access.db.close();
  }
}

function errorText(body: string): string {
  try {
    return (JSON.parse(body) as { error?: string }).error ?? body;
  } catch {
    return body;
  }
}
