// Hot-path micro-benchmark: `npm run bench:hot-path [-- --events N]`.
// CPU time per event (process.cpuUsage, stable on a shared machine) of each
// step the pipeline runs per event, on the demo event mix, without NATS or
// ClickHouse: decoding and validating an input message, pricing, the priced
// message enrich publishes, the ledger's insert text, and the window state.
// It guides work on the hot path; `npm run bench` measures the whole.
import { parseArgs } from "node:util";
import { loadConfig } from "../pipeline/config/config.ts";
import { demoEvent, seededRandom } from "../pipeline/demo/traffic.ts";
import { decodeMessage } from "../pipeline/enrich/decode.ts";
import { offerable } from "../pipeline/enrich/local-priced.ts";
import { createEventPricer } from "../pipeline/pricing/price-event.ts";
import { ledgerInsertBody } from "../pipeline/ledger/ledger-row.ts";
import { parsePriced } from "../pipeline/ledger/priced-decoder.ts";
import { createWindowState } from "../pipeline/windows/window-state.ts";
import type { JsMsg } from "@nats-io/jetstream";
import type { CostlineEvent, PricedEvent } from "../schemas/index.ts";

const { values: args } = parseArgs({ options: { events: { type: "string", default: "50000" }, rounds: { type: "string", default: "3" } } });
const N = Number(args.events);
const config = loadConfig({});
const r = seededRandom(42);
const now = new Date();
const inputs = Array.from({ length: N }, () => Buffer.from(JSON.stringify(demoEvent(r, now, "bench/hot-path"))));
const limits = { maxMessageBytes: config.enrich.maxMessageBytes, maxBatchEvents: config.enrich.maxBatchEvents };
const toPriced = createEventPricer(config);

/** CPU µs per event of `fn` over every event (best of `rounds`, after a warm-up round). */
function measure<T>(label: string, fn: () => T): T {
  let out = fn();
  let best = Infinity;
  for (let i = 0; i < Number(args.rounds); i++) {
    const c0 = process.cpuUsage();
    out = fn();
    const c = process.cpuUsage(c0);
    best = Math.min(best, (c.user + c.system) / N);
  }
  process.stdout.write(`${label.padEnd(44)} ${best.toFixed(2).padStart(7)} µs/event\n`);
  return out;
}

const events = measure("decode + validate (one event per message)", () =>
  inputs.map((b) => (decodeMessage(b, limits)[0] as { event: CostlineEvent }).event),
);
const priced = measure("price (toPriced)", () => events.map((e) => toPriced(e, now, now)));
measure("offerable check", () => priced.filter(offerable).length);
const chunks: PricedEvent[][] = [];
for (let i = 0; i < priced.length; i += 250) chunks.push(priced.slice(i, i + 250));
const wire = measure("priced message text (250 a message)", () => chunks.map((c) => Buffer.from(JSON.stringify(c))));
measure("priced decode (wire, ledger/windower)", () =>
  wire.map((data) => parsePriced({ data, json: () => JSON.parse(data.toString()) } as unknown as JsMsg)),
);
measure("ledger insert body", () => chunks.map((c) => ledgerInsertBody(c).length));
measure("window state add", () => {
  const state = createWindowState({ windowMs: 1000, latenessMs: 2000 });
  for (const e of priced) state.add(e, now.getTime());
  return state;
});
