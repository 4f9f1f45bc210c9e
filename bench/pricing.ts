// Pricing-step benchmark: `npm run bench:pricing [-- --events N --out FILE]`.
// Prices the same realistic LLM usage events two ways on one core:
//   - costline's pricer (model resolution cached per model, price plans
//     cached per price, decimal arithmetic);
//   - @pydantic/genai-prices' calcPrice called once per event (float).
import { writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { calcPrice } from "@pydantic/genai-prices";
import { loadConfig } from "../pipeline/config/config.ts";
import { createLlmPricer } from "../pipeline/pricing/llm-price.ts";
import { demoEvent, seededRandom } from "../pipeline/demo/traffic.ts";

const { values: args } = parseArgs({ options: { events: { type: "string", default: "200000" }, out: { type: "string" } } });
const N = Number(args.events);
const r = seededRandom(11);
const requests: { provider: string; model: string; usage: Record<string, number>; at: Date }[] = [];
while (requests.length < N) {
  const e = demoEvent(r, new Date(Date.UTC(2026, 10, 22) + requests.length * 1000));
  if (e.type !== "costline.llm.usage") continue;
  requests.push({ provider: e.data.provider, model: e.data.model, usage: e.data.usage as Record<string, number>, at: new Date(e.time!) });
}

function measure(label: string, fn: (req: (typeof requests)[number]) => unknown): number {
  for (let i = 0; i < Math.min(20_000, N); i++) fn(requests[i]!); // warm up
  const start = performance.now();
  for (const req of requests) fn(req);
  const perSecond = N / ((performance.now() - start) / 1000);
  process.stderr.write(`${label}: ${Math.round(perSecond)} events/s\n`);
  return perSecond;
}

const price = createLlmPricer(loadConfig({}).pricing);
const ours = measure("costline pricer (cached, decimal)", (req) => price(req));
const library = measure("genai-prices calcPrice per event", (req) =>
  calcPrice(req.usage, req.model, { providerId: req.provider, timestamp: req.at }),
);
const result = {
  events: N,
  costline_events_per_s: Math.round(ours),
  library_per_event_events_per_s: Math.round(library),
  speedup: Number((ours / library).toFixed(2)),
  target_events_per_s: 200_000,
};
process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
if (args.out) writeFileSync(args.out, `${JSON.stringify(result, null, 2)}\n`);
