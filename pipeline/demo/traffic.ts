// Realistic multi-tenant demo traffic: personas writing posts with several
// models (token counts drawn from a heavy-tailed distribution, some cached
// input), plus infra and vector-db usage and a little revenue. With a guard,
// every simulated LLM call asks it first, as a real producer does: a paused
// or throttled scope's calls are not made, a degraded one's use the cheaper
// model the guard names.
import { randomUUID } from "node:crypto";
import type { CostlineEventInput } from "../../schemas/index.ts";
import type { Guard } from "../guard/guard.ts";

const tenants = ["acme", "globex", "initech", "umbrella"];
const personas = ["ai_jesus", "chef_mario", "coach_kim", "doc_ray", "poet_lu"];
const models = [
  { provider: "openai", model: "gpt-4o-2024-08-06", weight: 3 },
  { provider: "openai", model: "gpt-4o-mini", weight: 5 },
  { provider: "anthropic", model: "claude-sonnet-4-20250514", weight: 3 },
  { provider: "anthropic", model: "claude-3-5-haiku-latest", weight: 2 },
  { provider: "google", model: "gemini-2.5-flash", weight: 2 },
];
const operations = ["hook_generation", "draft", "rewrite", "moderation", "summarize"];
const features = ["hooks", "posts", "replies"];

export type Random = () => number;

/** Deterministic generator for reproducible demos, tests and benchmarks. */
export function seededRandom(seed: number): Random {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 4294967296;
  };
}

const pick = <T>(r: Random, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;

function weighted<T extends { weight: number }>(r: Random, xs: readonly T[]): T {
  let x = r() * xs.reduce((a, b) => a + b.weight, 0);
  for (const item of xs) if ((x -= item.weight) <= 0) return item;
  return xs[xs.length - 1]!;
}

/** Log-normal token counts: most calls small, a long tail of large prompts. */
function tokens(r: Random, median: number, sigma = 0.8): number {
  const z = Math.sqrt(-2 * Math.log(r() || 1e-9)) * Math.cos(2 * Math.PI * r());
  return Math.max(1, Math.round(median * Math.exp(sigma * z)));
}

export function demoEvent(r: Random, at: Date, source = "demo/generator"): CostlineEventInput {
  const tenant = pick(r, tenants);
  const persona = pick(r, personas);
  const attribution = {
    tenant,
    persona_id: persona,
    post_id: `p-${Math.floor(r() * 500)}`,
    user_id: `u-${Math.floor(r() * 50)}`,
    feature: pick(r, features),
    trace_id: randomUUID().slice(0, 8),
  };
  const base = { specversion: "1.0" as const, id: randomUUID(), source, time: at.toISOString() };
  const roll = r();
  if (roll < 0.8) {
    const m = weighted(r, models);
    const input = tokens(r, 1200);
    return {
      ...base,
      type: "costline.llm.usage",
      data: {
        ...attribution,
        operation: pick(r, operations),
        provider: m.provider,
        model: m.model,
        usage: { input_tokens: input, cache_read_tokens: r() < 0.3 ? Math.floor(input * 0.5) : 0, output_tokens: tokens(r, 350) },
        latency_ms: tokens(r, 900, 0.5),
        status: "ok",
      },
    };
  }
  if (roll < 0.9) {
    return {
      ...base,
      type: "costline.vectordb.usage",
      data: {
        tenant,
        feature: attribution.feature,
        provider: "pinecone",
        operation: r() < 0.8 ? "query" : "upsert",
        read_units: Math.ceil(r() * 10),
        write_units: r() < 0.2 ? Math.ceil(r() * 5) : 0,
      },
    };
  }
  if (roll < 0.97) {
    return {
      ...base,
      type: "costline.infra.usage",
      data: { tenant, resource: "cpu", quantity: Math.round(r() * 120 * 1000) / 1000, unit: "core_second", service: "renderer" },
    };
  }
  return {
    ...base,
    type: "costline.revenue",
    data: { ...attribution, amount: (Math.round(r() * 500) / 100).toFixed(2), currency: "USD" },
  };
}

/** What the guard did to the demo's calls so far. */
export interface DemoStats {
  sent: number;
  /** Calls not made: their scope is paused, or throttled past its rate. */
  denied: number;
  /** Calls made with the guard's cheaper stand-in model. */
  downgraded: number;
}

export const newDemoStats = (): DemoStats => ({ sent: 0, denied: 0, downgraded: 0 });

/**
 * The event as the guard lets it happen: undefined when the call is denied,
 * the event with the guard's model when it is degraded, otherwise unchanged.
 * Only LLM calls are guarded (the guard answers per model call).
 */
export function guardDemoEvent(
  guard: Pick<Guard, "check">,
  e: CostlineEventInput,
  stats: DemoStats = newDemoStats(),
): CostlineEventInput | undefined {
  if (e.type !== "costline.llm.usage") {
    stats.sent++;
    return e;
  }
  const d = e.data as {
    tenant: string;
    persona_id?: string;
    feature?: string;
    user_id?: string;
    model: string;
    usage: Record<string, number>;
  };
  const decision = guard.check({
    tenant: d.tenant,
    persona: d.persona_id,
    feature: d.feature,
    user: d.user_id,
    model: d.model,
    estimatedTokens: (d.usage.input_tokens ?? 0) + (d.usage.output_tokens ?? 0),
  });
  if (!decision.allow) {
    stats.denied++;
    return undefined;
  }
  stats.sent++;
  if (decision.model === d.model) return e;
  stats.downgraded++;
  return { ...e, data: { ...e.data, model: decision.model } } as CostlineEventInput;
}

/** Publishes demo events at `ratePerSecond` until the signal aborts; with a guard, only the calls it allows. */
export async function runDemoTraffic(
  publish: (events: CostlineEventInput[]) => Promise<unknown>,
  ratePerSecond: number,
  signal: AbortSignal,
  onError: (err: unknown) => void,
  opts: { guard?: Pick<Guard, "check">; stats?: DemoStats } = {},
): Promise<void> {
  const stats = opts.stats ?? newDemoStats();
  const r = seededRandom(Date.now());
  const tickMs = 200;
  let carry = 0;
  while (!signal.aborted) {
    carry += (ratePerSecond * tickMs) / 1000;
    const n = Math.floor(carry);
    carry -= n;
    if (n > 0) {
      const now = new Date();
      const drawn = Array.from({ length: n }, () => demoEvent(r, now));
      const events = opts.guard ? drawn.map((e) => guardDemoEvent(opts.guard!, e, stats)).filter((e) => e !== undefined) : drawn;
      if (!opts.guard) stats.sent += events.length;
      if (events.length) await publish(events).catch(onError);
    }
    await new Promise((resolve) => setTimeout(resolve, tickMs));
  }
}
