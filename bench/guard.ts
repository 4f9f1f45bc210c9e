// guard.check throughput on one core: `npm run bench:guard`. Checks against a
// control cache holding 1,000 tenants' controls (closed, throttled, degraded
// and open scopes), the way a producer's guard holds them after the KV replay.
import { createControlCache } from "../pipeline/guard/decide.ts";
import type { Control } from "../schemas/index.ts";

const cache = createControlCache();
const now = new Date().toISOString();
const base = { reason: "bench", set_by: "bench", set_at: now, probe_every_s: 30 };
for (let t = 0; t < 1000; t++) {
  const tenant = `tenant-${t}`;
  if (t % 4 === 1)
    cache.put({ ...base, scope: { tenant, persona_id: "p1" }, state: "degraded", model_map: { "gpt-4o": "gpt-4o-mini" } } as Control);
  if (t % 4 === 2)
    cache.put({
      ...base,
      scope: { tenant, feature: "agent" },
      state: "throttled",
      throttle: { requests_per_minute: 1_000_000_000 },
    } as Control);
  if (t % 4 === 3)
    cache.put({ ...base, scope: { tenant }, state: "open", paused_until: new Date(Date.now() + 3600_000).toISOString() } as Control);
}
const requests = Array.from({ length: 4096 }, (_, i) => ({
  tenant: `tenant-${i % 1000}`,
  persona: i % 3 ? "p1" : "p2",
  feature: i % 5 ? "agent" : "posts",
  model: "gpt-4o",
  estimatedTokens: 800,
}));
const N = 5_000_000;
let allowed = 0;
for (let i = 0; i < 200_000; i++) allowed += cache.check(requests[i & 4095]!).allow ? 1 : 0; // warm up
allowed = 0;
const start = performance.now();
for (let i = 0; i < N; i++) allowed += cache.check(requests[i & 4095]!).allow ? 1 : 0;
const seconds = (performance.now() - start) / 1000;
process.stdout.write(
  `${JSON.stringify({ checks: N, seconds: Number(seconds.toFixed(3)), checks_per_s: Math.round(N / seconds), allowed_share: Number((allowed / N).toFixed(3)), target_checks_per_s: 1_000_000 }, null, 2)}\n`,
);
