// `costline sql` and `costline totals`. With a stack running they are one
// call to its API; what the direct path (no stack: ClickHouse opened here)
// needs — the allowlist, query bounds, migrations — is imported only then.
import type { Config } from "../config/config.ts";
import { CostlineError } from "../errors.ts";
import { checkReadOnly } from "../queries/read-only-sql.ts";
import { totalsQuerySchema } from "../queries/totals.ts";
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
  const [{ guardSelect }, { withLimits }] = await Promise.all([
    import("../queries/read-only-sql.ts"),
    import("../queries/query-limits.ts"),
  ]);
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
  const [{ migrate }, { ledgerTotals }] = await Promise.all([import("../clickhouse/migrate.ts"), import("../queries/totals.ts")]);
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
