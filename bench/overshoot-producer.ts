// Child process of the overshoot benchmark: one producer with its own NATS
// connection, guard and (with "reservations") budget reservations, running
// `concurrency` workers that each make guarded calls to a simulated model
// (50–250 ms, a random number of output tokens up to max_tokens) until the
// guard refuses them. Starts on "go" from stdin; prints one JSON line at the end.
//
//   node --import tsx bench/overshoot-producer.ts <nats-url> <tenant> check-only|reservations <concurrency> <max-seconds>
import { createInterface } from "node:readline";
import { setTimeout as sleep } from "node:timers/promises";
import { connect } from "@nats-io/transport-node";
import { createGuard } from "../pipeline/guard/guard.ts";
import { createBudgetReservations } from "../pipeline/guard/budget-reservations.ts";
import { BudgetExhaustedError, createBreakers, GuardDeniedError, guardedCallResult } from "../pipeline/guard/guarded-call.ts";
import { createCallPricer } from "../pipeline/guard/call-cost.ts";
import { createProducer } from "../pipeline/producer/producer.ts";
import { natsAuthFromEnv, natsAuthOptions } from "../pipeline/nats/connect.ts";

const [servers, tenant, mode, concurrencyArg, maxSecondsArg] = process.argv.slice(2);
const concurrency = Number(concurrencyArg);
const deadline = () => Date.now() + Number(maxSecondsArg) * 1000;
// Credentials come from NATS_USER/NATS_PASSWORD, as for any producer.
const nc = await connect({ servers: servers!, ...natsAuthOptions(natsAuthFromEnv()) });
const guard = await createGuard({ nc });
await guard.ready;
const reservations = mode === "reservations" ? await createBudgetReservations({ nc }) : undefined;
const producer = await createProducer({ nc });
const breakers = createBreakers();
const pricer = createCallPricer();
const INPUT = 1_000;
const MAX_OUTPUT = 2_000;
const maxEstimate = pricer.estimate("openai", "gpt-4o-mini", tenant!, { inputTokens: INPUT, outputTokens: MAX_OUTPUT })!;

process.stdout.write("ready\n");
await new Promise<void>((resolve) => createInterface({ input: process.stdin }).once("line", () => resolve()));

const stats = { allowed: 0, denied: 0, errors: 0, not_synced: 0, first_denied_at: 0, published_usd: [] as string[] };
const until = deadline();
async function worker(): Promise<void> {
  while (Date.now() < until) {
    try {
      const r = await guardedCallResult({
        guard,
        producer,
        breakers,
        pricer,
        reservations,
        provider: "openai",
        apiFlavor: "chat",
        model: "gpt-4o-mini",
        source: "bench/overshoot",
        attribution: { tenant: tenant!, persona_id: "racer", feature: "bench" },
        estimate: { inputTokens: INPUT, outputTokens: MAX_OUTPUT },
        call: async (model) => {
          await sleep(50 + Math.random() * 200);
          return { model, usage: { prompt_tokens: INPUT, completion_tokens: 500 + Math.floor(Math.random() * (MAX_OUTPUT - 500)) } };
        },
      });
      stats.allowed++;
      stats.published_usd.push(r.costUsd ?? "0");
    } catch (err) {
      if (err instanceof BudgetExhaustedError && err.retryable) {
        stats.not_synced++;
        await sleep(100);
        continue;
      }
      if (err instanceof GuardDeniedError || err instanceof BudgetExhaustedError) {
        stats.denied++;
        stats.first_denied_at ||= Date.now();
        return; // this worker is done: the budget is spent
      }
      stats.errors++;
      process.stderr.write(`${String(err)}\n`);
      return;
    }
  }
}
await Promise.all(Array.from({ length: concurrency }, worker));
await reservations?.close();
await guard.close();
await nc.drain();
process.stdout.write(
  `${JSON.stringify({ ...stats, published_usd: undefined, published: stats.published_usd.length, max_estimate_usd: maxEstimate })}\n`,
);
process.exit(0);
