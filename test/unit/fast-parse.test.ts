// The compiled fast parse must agree with zod on every input: accept exactly
// what zod accepts, and give the same parsed value (defaults filled in,
// unknown keys stripped). Checked on demo traffic and on mutations of it
// that hit every kind of check the wire schemas use.
import { describe, expect, it } from "vitest";
import { compileFastParse } from "../../schemas/fast-parse.ts";
import { costlineEvent, pricedEventSchema } from "../../schemas/index.ts";
import { demoEvent, seededRandom } from "../../pipeline/demo/traffic.ts";
import { loadConfig } from "../../pipeline/config/config.ts";
import { createEventPricer } from "../../pipeline/pricing/price-event.ts";
import * as z from "zod";

const r = seededRandom(21);
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
const oddValues: unknown[] = [
  undefined,
  null,
  "",
  " ",
  "x y",
  "a".repeat(65),
  "a".repeat(129),
  "a".repeat(257),
  "a".repeat(513),
  0,
  -1,
  1.5,
  Number.NaN,
  Number.POSITIVE_INFINITY,
  1e11,
  2 ** 53,
  true,
  [],
  {},
  { a: 1 },
  "2026-11-22T10:00:00Z",
  "2026-02-30T10:00:00Z",
  "2026-11-22 10:00:00",
  "2026-11-22T10:00:00.123+01:00",
  "12.50",
  "1e3",
  "-0.000000000001",
  "0.0000000000001",
  "USD",
  "usd",
  "openai",
  "costline.llm.usage",
  "costline.cost",
  " acme",
];

/** Paths of every value inside `v` (objects only), to mutate one at random. */
function paths(v: unknown, prefix: string[] = []): string[][] {
  if (typeof v !== "object" || v === null || Array.isArray(v)) return [prefix];
  return [prefix, ...Object.entries(v).flatMap(([k, x]) => paths(x, [...prefix, k]))];
}

function mutate(event: unknown): unknown {
  const copy = structuredClone(event) as Record<string, unknown>;
  const all = paths(copy).filter((p) => p.length > 0);
  const times = 1 + Math.floor(r() * 2);
  for (let i = 0; i < times; i++) {
    const p = pick(all);
    let parent = copy as Record<string, unknown>;
    let gone = false;
    for (const k of p.slice(0, -1)) {
      const next = parent[k];
      if (typeof next !== "object" || next === null) {
        gone = true; // an earlier mutation replaced this branch
        break;
      }
      parent = next as Record<string, unknown>;
    }
    if (gone) continue;
    const last = p[p.length - 1]!;
    const roll = r();
    if (roll < 0.2) delete parent[last];
    else if (roll < 0.3) parent[`extra_${Math.floor(r() * 3)}`] = pick(oddValues);
    else parent[last] = pick(oddValues);
  }
  return copy;
}

/** The fast parse accepts exactly what zod accepts, with the same value; `mayDecline`: it may leave a valid input to zod. */
function agree(schema: z.ZodType, input: unknown, mayDecline = false) {
  const fast = compileFastParse(schema)!;
  const want = schema.safeParse(input);
  const got = fast(input);
  if (mayDecline && !got.ok) return;
  expect(got.ok, JSON.stringify(input)).toBe(want.success);
  if (got.ok && want.success) expect(got.value).toStrictEqual(want.data);
}

describe("compiled fast parse", () => {
  it("compiles the event and priced schemas", () => {
    expect(compileFastParse(costlineEvent)).toBeDefined();
    expect(compileFastParse(pricedEventSchema)).toBeDefined();
  });

  it("agrees with zod on demo events and on thousands of mutations of them", () => {
    const fast = compileFastParse(costlineEvent)!;
    let accepted = 0;
    for (let i = 0; i < 6000; i++) {
      const e = JSON.parse(JSON.stringify(demoEvent(r, new Date(), "test/fast")));
      const input = i % 3 === 0 ? e : mutate(e);
      agree(costlineEvent, input);
      if (fast(input).ok) accepted++;
    }
    // Both sides of the comparison were exercised.
    expect(accepted).toBeGreaterThan(1000);
    expect(accepted).toBeLessThan(6000);
  });

  it("agrees with zod on every event type's edge cases", () => {
    const base = { specversion: "1.0", id: "e1", source: "s" };
    const cases: unknown[] = [
      { ...base, type: "costline.cost", data: { tenant: "acme", amount: "12.50", currency: "USD", category: "x" } },
      { ...base, type: "costline.cost", data: { tenant: "acme", amount: "1e3", currency: "USD", category: "x" } },
      { ...base, type: "costline.revenue", data: { tenant: "acme", amount: "-0.5", currency: "EUR" } },
      { ...base, type: "costline.vectordb.usage", data: { tenant: "acme", provider: "p", operation: "query" } },
      { ...base, type: "costline.infra.usage", data: { tenant: "acme", resource: "gpu", quantity: 3.5, unit: "gpu_second", service: "s" } },
      { ...base, type: "costline.infra.usage", data: { tenant: "acme", resource: "gpu", quantity: 3.5, unit: "hour", service: "s" } },
      { ...base, type: "costline.llm.usage", data: { tenant: "acme", provider: "o", model: "m", usage: { input_tokens: 1, x_tokens: 2 } } },
      { ...base, type: "costline.llm.usage", data: { tenant: "acme", provider: "o", model: "m", usage: { x_tokens: 2.5 } } },
      { ...base, type: "costline.llm.usage", data: { tenant: "acme ", provider: "o", model: "m", usage: {} } },
      { ...base, type: "costline.llm.usage", data: { tenant: "acme", provider: "o", model: "m", usage: {}, tags: { "": "x" } } },
      {
        ...base,
        type: "costline.llm.usage",
        data: {
          tenant: "acme",
          provider: "o",
          model: "m",
          usage: {},
          tags: Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`k${i}`, "v"])),
        },
      },
      { ...base, type: "costline.llm.usage", data: { tenant: "acme", provider: "o", model: "m", usage: {}, batch: "yes" } },
      { ...base, type: "costline.llm.usage", time: undefined, data: { tenant: "acme", provider: "o", model: "m", usage: {} } },
      { ...base, type: "costline.other", data: {} },
      [],
      null,
      "text",
    ];
    for (const c of cases) agree(costlineEvent, c);
    // A "__proto__" key is left to zod, whatever it makes of it.
    const proto = JSON.parse(
      '{"specversion":"1.0","id":"e","source":"s","type":"costline.llm.usage","data":{"tenant":"a","provider":"o","model":"m","usage":{},"tags":{"__proto__":"x"}}}',
    );
    expect(compileFastParse(costlineEvent)!(proto).ok).toBe(false);
    agree(costlineEvent, proto, true);
  });

  it("agrees with zod on priced events and their mutations", () => {
    const toPriced = createEventPricer(loadConfig({}));
    for (let i = 0; i < 2000; i++) {
      const priced = JSON.parse(JSON.stringify(toPriced(costlineEvent.parse(demoEvent(r, new Date(), "test/fast")), new Date())));
      agree(pricedEventSchema, i % 3 === 0 ? priced : mutate(priced));
    }
  });

  it("declines a schema it does not know, so the caller keeps zod", () => {
    expect(compileFastParse(z.string().email())).toBeUndefined();
    expect(compileFastParse(z.string().transform((s) => s.length))).toBeUndefined();
    expect(compileFastParse(z.object({ a: z.string() }).strict())).toBeUndefined();
  });
});
