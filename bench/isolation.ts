// Isolation benchmark: `npm run bench:isolation -- [--out FILE] [--seconds 30]`.
// Starts a real stack (`costline up`: embedded nats-server and ClickHouse) and
// measures two things, each against a baseline in the same run:
//  1. ledger freshness (publish → row in costline.ledger, from ingested_at)
//     of a steady event stream while a 30-second analytic query runs on /v1/sql;
//  2. API latency for one tenant's key while another tenant's key floods
//     /v1/costs with 20 concurrent callers.
import { writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { connectStack } from "../test/helpers/stack-nats.ts";
import { createProducer } from "../pipeline/producer/producer.ts";
import { startStack, tempHome, waitFor } from "../test/helpers/stack-process.ts";
import { call } from "../test/helpers/api-routes.ts";

const { values: args } = parseArgs({
  options: { out: { type: "string" }, seconds: { type: "string", default: "30" }, rate: { type: "string", default: "50" } },
});
const QUERY_S = Number(args.seconds);
const RATE = Number(args.rate);
/** Runs until its time limit, in constant memory. */
const LONG_QUERY = "SELECT count() FROM system.numbers WHERE cityHash64(number) = 0";

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? Math.round(s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]! * 10) / 10 : null;
};
const summary = (xs: number[]) => ({ n: xs.length, p50: pct(xs, 50), p99: pct(xs, 99), max: pct(xs, 100) });

const stack = await startStack(tempHome("costline-bench-isolation-"), {
  COSTLINE_QUERY_TIMEOUT_S: String(QUERY_S),
  COSTLINE_LOG_LEVEL: "warn",
});
const api = stack.info.api_url;
try {
  const nc = await connectStack(stack, "publisher");
  const producer = await createProducer({ nc });
  const sent = new Map<string, number>();
  let seq = 0;

  /** Publishes RATE events a second for `ms`, recording when each went out. */
  async function stream(ms: number, tag: string): Promise<void> {
    const end = Date.now() + ms;
    while (Date.now() < end) {
      const tick = Date.now();
      const batch = Array.from({ length: Math.max(1, Math.round(RATE / 10)) }, () => {
        const id = `${tag}-${seq++}`;
        return {
          specversion: "1.0",
          id,
          source: "bench/isolation",
          type: "costline.cost",
          time: new Date().toISOString(),
          data: { tenant: "iso-a", amount: "0.01", currency: "USD", category: "gpu", post_id: `p-${seq % 50}` },
        } as const;
      });
      for (const e of batch) sent.set(e.id, Date.now());
      await producer.publish(batch as never);
      await new Promise((r) => setTimeout(r, Math.max(0, 100 - (Date.now() - tick))));
    }
  }
  async function freshness(tag: string): Promise<number[]> {
    const expected = [...sent.keys()].filter((k) => k.startsWith(`${tag}-`)).length;
    const rows = await waitFor(
      `${tag} events in the ledger`,
      async () => {
        const r = await stack.sql<{ event_id: string; at: string }>(
          `SELECT event_id, toUnixTimestamp64Milli(ingested_at) AS at FROM costline.ledger WHERE source = 'bench/isolation' AND startsWith(event_id, '${tag}-')`,
        );
        return r.length >= expected ? r : undefined;
      },
      120_000,
    );
    return rows.map((r) => Number(r.at) - sent.get(r.event_id)!);
  }

  // 1. Freshness: baseline, then with a 30-second query on /v1/sql (from a second admin key:
  // one key never holds every analytics connection, and the first reads the ledger meanwhile).
  const longKey = (
    JSON.parse((await call(api, "POST", "/v1/admin/keys", { key: stack.adminKey, body: { role: "admin" } })).text) as { key: string }
  ).key;
  await stream(10_000, "base");
  const baseline = await freshness("base");
  const started = Date.now();
  const long = call(api, "POST", "/v1/sql", { key: longKey, body: { query: LONG_QUERY } }).then((r) => ({
    status: r.status,
    seconds: (Date.now() - started) / 1000,
  }));
  await stream(QUERY_S * 1000, "during");
  const query = await long;
  const during = await freshness("during");
  await nc.close();

  // 2. A second tenant's API latency, alone and while the first floods /v1/costs.
  const keyOf = async (tenant: string) =>
    (JSON.parse((await call(api, "POST", "/v1/admin/keys", { key: stack.adminKey, body: { tenant } })).text) as { key: string }).key;
  const [flooder, victim] = [await keyOf("iso-a"), await keyOf("iso-b")];
  const heavy = "/v1/costs?from=2020-01-01T00:00:00Z&to=2027-01-01T00:00:00Z&granularity=day&group_by=tenant,post_id,model,feature,user_id";
  async function victimLatency(ms: number): Promise<number[]> {
    const out: number[] = [];
    const end = Date.now() + ms;
    while (Date.now() < end) {
      const t = performance.now();
      const r = await call(api, "GET", "/v1/totals", { key: victim });
      if (r.status !== 200) throw new Error(`victim answered ${r.status}`);
      out.push(performance.now() - t);
      await new Promise((res) => setTimeout(res, 50));
    }
    return out;
  }
  const alone = await victimLatency(10_000);
  const flood = { requests: 0, ok: 0, limited: 0, other: 0 };
  let flooding = true;
  const flooders = Array.from({ length: 20 }, async () => {
    while (flooding) {
      const r = await call(api, "GET", heavy, { key: flooder });
      flood.requests++;
      if (r.status === 200) flood.ok++;
      else if (r.status === 429) flood.limited++;
      else flood.other++;
    }
  });
  const underFlood = await victimLatency(15_000);
  flooding = false;
  await Promise.all(flooders);

  const result = {
    bench: "isolation",
    engine: "embedded",
    analytic_query: { seconds: query.seconds, status: query.status, timeout_s: QUERY_S },
    events_per_s: RATE,
    ledger_freshness_ms: { baseline: summary(baseline), during_analytic_query: summary(during) },
    second_tenant_api_ms: { alone: summary(alone), while_other_tenant_floods: summary(underFlood) },
    flood,
  };
  const text = JSON.stringify(result, null, 2);
  process.stdout.write(`${text}\n`);
  if (args.out) writeFileSync(args.out, `${text}\n`);
} finally {
  await stack.stop();
}
