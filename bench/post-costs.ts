// API latency on a large ledger: `npm run bench:api -- [--rows 10000000] [--requests 500] [--out FILE]`.
// Fills an embedded ClickHouse with a synthetic ledger (inserted through the
// ledger table, so every materialized view fires as in production), starts
// the real API in this process, and times GET /v1/posts/{id}/costs for random
// posts with a tenant key.
import { mkdtempSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { openClickHouse, queryRows } from "../pipeline/clickhouse/client.ts";
import { migrate } from "../pipeline/clickhouse/migrate.ts";
import { createKeyStore } from "../pipeline/api/api-keys.ts";
import { createApi, startApi } from "../pipeline/api/server.ts";
import { createMetrics } from "../pipeline/observability/metrics.ts";
import { fillSyntheticLedger, POSTS_PER_TENANT } from "./synthetic-ledger.ts";

const { values: args } = parseArgs({
  options: { rows: { type: "string", default: "10000000" }, requests: { type: "string", default: "500" }, out: { type: "string" } },
});
const ROWS = Number(args.rows);
const REQUESTS = Number(args.requests);

const db = await openClickHouse({ dataDir: path.join(mkdtempSync(path.join(os.tmpdir(), "costline-bench-api-")), "clickhouse") } as never);
await migrate(db.client);
const fillStart = performance.now();
await fillSyntheticLedger(db.client, ROWS);
const fillSeconds = (performance.now() - fillStart) / 1000;
const [count] = await queryRows<{ n: string }>(db.client, "SELECT toString(count()) AS n FROM costline.ledger");

const keys = createKeyStore(db.client);
const tenantKey = (await keys.create({ role: "tenant", tenant: "tenant-7" }, "bench")).key;
const app = createApi({
  clickhouse: db.client,
  metrics: createMetrics(),
  keys,
  targetCostPerPost: "0.05",
  health: async () => ({ status: "healthy", checks: [] }), // the bench reads post costs only
});
const api = await startApi(app, "127.0.0.1", 0);

const times: number[] = [];
let found = 0;
for (let i = 0; i < REQUESTS + 20; i++) {
  const post = `p-${(i * 2654435761) % POSTS_PER_TENANT}`;
  const t = performance.now();
  const res = await fetch(`${api.url}/v1/posts/${post}/costs?limit=100`, { headers: { authorization: `Bearer ${tenantKey}` } });
  const body = (await res.json()) as { audit?: unknown[] };
  const ms = performance.now() - t;
  if (i >= 20) {
    times.push(ms); // the first 20 warm caches
    if (res.status === 200 && body.audit?.length) found++;
  }
}
times.sort((a, b) => a - b);
const q = (p: number) => Number(times[Math.min(times.length - 1, Math.floor(p * times.length))]!.toFixed(1));
const result = {
  ledger_rows: Number(count?.n ?? 0),
  fill_seconds: Number(fillSeconds.toFixed(1)),
  requests: REQUESTS,
  posts_found: found,
  post_costs_ms: { p50: q(0.5), p95: q(0.95), p99: q(0.99), max: q(1) },
  target_p99_ms: 50,
};
process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
if (args.out) writeFileSync(args.out, `${JSON.stringify(result, null, 2)}\n`);
await api.close();
await db.close();
