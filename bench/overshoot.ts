// Budget overshoot under concurrency: four producer processes, 50 concurrent
// requests each, race for the last $0.10 of a nearly spent hard budget ($1.00,
// $0.90 already in the ledger) on a real stack (`costline up`). Run twice on
// fresh tenants: with today's guard path (check-only: the detector sees the
// crossing and pauses the scope, producers' guards learn it from the controls
// bucket), and with reservations (each call holds its estimated cost first).
// Overshoot is the ledger's spend past the limit once every call is in.
//
//   npm run bench:overshoot -- [--out FILE] [--producers 4] [--concurrency 50]
import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { createInterface } from "node:readline";
import { parseArgs } from "node:util";
import { connectStack, stackNatsEnv } from "../test/helpers/stack-nats.ts";
import { jetstream } from "@nats-io/jetstream";
import { createSubjects } from "../pipeline/nats/subjects.ts";
import { msgIdOf } from "../pipeline/producer/producer.ts";
import { Decimal } from "../pipeline/pricing/decimal.ts";
import type { CostlineEventInput } from "../schemas/index.ts";
import { startStack, tempHome, waitFor, type StackProcess } from "../test/helpers/stack-process.ts";

const { values: args } = parseArgs({
  options: {
    out: { type: "string" },
    producers: { type: "string", default: "4" },
    concurrency: { type: "string", default: "50" },
    "max-seconds": { type: "string", default: "60" },
  },
});
const LIMIT = "1";
const PRESPENT = "0.9";

interface ProducerResult {
  allowed: number;
  denied: number;
  errors: number;
  not_synced: number;
  first_denied_at: number;
  published: number;
  max_estimate_usd: string;
}

async function ledger(stack: StackProcess, tenant: string): Promise<{ events: number; cost: string }> {
  const [r] = await stack.sql<{ n: number; s: string }>(
    `SELECT toUInt32(count()) AS n, toString(sum(ifNull(cost_usd, 0))) AS s FROM costline.ledger WHERE tenant = '${tenant}'`,
  );
  return { events: r?.n ?? 0, cost: r?.s ?? "0" };
}

async function putBudget(stack: StackProcess, tenant: string): Promise<void> {
  const res = await fetch(`${stack.info.api_url}/v1/budgets`, {
    method: "PUT",
    headers: { authorization: `Bearer ${stack.adminKey}`, "content-type": "application/json" },
    body: JSON.stringify({ scope: { tenant }, period: "monthly", amount_usd: LIMIT, hard: true }),
  });
  if (!res.ok) throw new Error(`PUT /v1/budgets: ${res.status} ${await res.text()}`);
}

async function run(stack: StackProcess, mode: "check-only" | "reservations") {
  const tenant = `overshoot-${mode}`;
  const nc = await connectStack(stack, "operator");
  const js = jetstream(nc);
  const pre: CostlineEventInput = {
    specversion: "1.0",
    id: `${tenant}-prespent`,
    source: "bench/overshoot",
    type: "costline.cost",
    time: new Date().toISOString(),
    data: { tenant, amount: PRESPENT, currency: "USD", category: "earlier_calls" },
  };
  await js.publish(createSubjects("costline").events(tenant), JSON.stringify(pre), { msgID: msgIdOf(pre) });
  await waitFor("the spend so far in the ledger", async () => ((await ledger(stack, tenant)).events === 1 ? true : undefined));
  await putBudget(stack, tenant);
  if (mode === "reservations")
    await waitFor("the counter synced with the ledger", async () => {
      const s = await stack.api<{ budgets: { key: string; spent_usd: string }[] }>(`/v1/budgets/status?tenant=${tenant}`);
      return s.budgets[0]?.spent_usd === PRESPENT ? true : undefined;
    });
  await new Promise((r) => setTimeout(r, 1500)); // the detector and the guards have the budget

  const children = Array.from({ length: Number(args.producers) }, () =>
    spawn(
      process.execPath,
      [
        "--import",
        "tsx",
        path.join(import.meta.dirname, "overshoot-producer.ts"),
        stack.info.nats_url,
        tenant,
        mode,
        args.concurrency!,
        args["max-seconds"]!,
      ],
      { stdio: ["pipe", "pipe", "inherit"], env: { ...process.env, ...stackNatsEnv(stack, "publisher") } },
    ),
  );
  const results: Promise<ProducerResult>[] = [];
  const ready: Promise<void>[] = [];
  for (const child of children) {
    const lines = createInterface({ input: child.stdout! });
    let markReady: () => void = () => undefined;
    ready.push(new Promise((r) => (markReady = r)));
    results.push(
      new Promise((resolve, reject) => {
        lines.on("line", (line) => (line === "ready" ? markReady() : resolve(JSON.parse(line) as ProducerResult)));
        child.once("exit", (code) => (code === 0 ? undefined : reject(new Error(`producer exited ${code}`))));
      }),
    );
  }
  await Promise.all(ready);
  const started = Date.now();
  for (const child of children) child.stdin!.write("go\n");
  const out = await Promise.all(results);
  const seconds = (Date.now() - started) / 1000;
  const published = out.reduce((n, r) => n + r.published, 0);
  const final = await waitFor(
    "every call in the ledger",
    async () => {
      const l = await ledger(stack, tenant);
      return l.events === published + 1 ? l : undefined;
    },
    120_000,
  );
  await nc.close();
  const over = Decimal.max(0, new Decimal(final.cost).minus(LIMIT));
  return {
    mode,
    producers: children.length,
    concurrency_per_producer: Number(args.concurrency),
    limit_usd: LIMIT,
    spent_before_usd: PRESPENT,
    spent_usd: final.cost,
    overshoot_usd: over.toFixed(),
    largest_estimate_usd: out[0]!.max_estimate_usd,
    overshoot_in_estimates: Number(over.div(out[0]!.max_estimate_usd).toFixed(2)),
    calls_allowed: published,
    calls_denied: out.reduce((n, r) => n + r.denied, 0),
    errors: out.reduce((n, r) => n + r.errors, 0),
    /** From the start to the first refusal in any producer: how long the budget took to stop calls. */
    first_refusal_s: Math.min(...out.map((r) => r.first_denied_at || Infinity).map((t) => (t - started) / 1000)),
    seconds,
  };
}

const home = tempHome("costline-overshoot-");
const stack = await startStack(home, { COSTLINE_LOG_LEVEL: "warn", COSTLINE_WINDOW_S: "1", COSTLINE_ALLOWED_LATENESS_S: "2" });
try {
  const checkOnly = await run(stack, "check-only");
  console.log(JSON.stringify(checkOnly));
  const reserved = await run(stack, "reservations");
  console.log(JSON.stringify(reserved));
  const result = {
    check_only: checkOnly,
    reservations: reserved,
    target_met: new Decimal(reserved.overshoot_usd).lte(reserved.largest_estimate_usd),
  };
  if (args.out) writeFileSync(args.out, `${JSON.stringify(result, null, 2)}\n`);
  console.log(JSON.stringify(result, null, 2));
} finally {
  await stack.stop();
}
