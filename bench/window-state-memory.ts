// Memory of the windower's state machine alone (no NATS, no process around
// it): 5,000 events a second of event time for 200 seconds into
// createWindowState, heap measured after a full GC every 40 seconds. Shows
// whether the state itself (open windows and their events' key digests)
// stays bounded once windows start to close.
//
//   node --expose-gc --import tsx bench/window-state-memory.ts
import { createWindowState } from "../pipeline/windows/window-state.ts";
import type { PricedEvent } from "../schemas/index.ts";

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error("run with node --expose-gc");
const RATE = 5000;
const s = createWindowState({ windowMs: 60_000, latenessMs: 120_000 });
const t0 = Date.now();
const ev = (i: number, t: number): PricedEvent => ({
  event_id: `m-${i}`,
  source: "bench/window-state",
  type: "costline.llm.usage",
  kind: "llm",
  time: new Date(t).toISOString(),
  tenant: `tenant-${i % 40}`,
  post_id: `post-${i % 5000}`,
  persona_id: `persona-${i % 7}`,
  user_id: `u-${i % 1000}`,
  feature: `f-${i % 5}`,
  operation: `op-${i % 4}`,
  provider: "openai",
  model: i % 3 ? "gpt-4o" : "gpt-4o-mini",
  model_requested: "gpt-4o",
  category: "",
  usage: { input_tokens: 1000, output_tokens: 200 },
  batch: false,
  cost_usd: "0.004500000000",
  revenue_usd: "0",
  priced: true,
  price_source: "genai-prices",
  price_version: "bench",
  components: [],
  attribution_method: "direct",
  enriched_at: new Date(t).toISOString(),
});
const samples: { event_s: number; heap_mb: number; keys: number; windows: number }[] = [];
for (let sec = 0; sec < 200; sec++) {
  for (let k = 0; k < RATE; k++) s.add(ev(sec * RATE + k, t0 + sec * 1000), t0 + sec * 1000);
  s.tick(t0 + sec * 1000);
  if (sec % 40 === 39) {
    gc();
    samples.push({
      event_s: sec + 1,
      heap_mb: Math.round(process.memoryUsage().heapUsed / 1e6),
      keys: s.heldKeys(),
      windows: s.openWindows(),
    });
  }
}
console.log(JSON.stringify({ events_per_s: RATE, samples }, null, 2));
