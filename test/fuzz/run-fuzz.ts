// The fuzz run: generated malformed messages straight onto the events subject
// of a running stack — broken JSON, wrong types, huge strings and numbers,
// NaN/Infinity, negative tokens, unknown types, hostile tenant strings with
// subject and SQL metacharacters, bad batches — plus a few valid events whose
// tenants are hostile strings, as a control. Afterwards: the stack is alive,
// every malformed message has exactly its DLQ records (one per bad element,
// one for a message unusable as a whole) with a reason and a detail, and the
// ledger holds the control events only, their tenants byte for byte. Money
// attacks (amounts beyond the per-event bound, more decimals than the ledger
// keeps, batches of them) must each be refused alone with its own reason.
//
// Used by test/integration/fuzz.test.ts (short form, in `npm test`) and
// `npm run fuzz` (test/fuzz/main.ts, 100,000 messages).
import { jetstream, jetstreamManager, DeliverPolicy } from "@nats-io/jetstream";
import { connectStack } from "../helpers/stack-nats.ts";
import { createSubjects } from "../../pipeline/nats/subjects.ts";
import { isAlive } from "../../pipeline/stack/processes.ts";
import { seededRandom } from "../../pipeline/demo/traffic.ts";
import { dlqRecordSchema } from "../../schemas/index.ts";
import { startStack, tempHome, waitFor } from "../helpers/stack-process.ts";
import { peakRssMb } from "../helpers/process-memory.ts";

export interface FuzzReport {
  messages: number;
  by_kind: Record<string, number>;
  expected_dlq_records: number;
  dlq_records: number;
  dlq_by_reason: Record<string, number>;
  /** Messages whose DLQ records differ from what they should have (missing, extra, or without a reason). */
  mismatched_messages: number;
  mismatched_by_kind: Record<string, number>;
  /** Messages enrich still holds (pending or unacknowledged) once the DLQ is complete: must be 0. */
  enrich_unsettled: number;
  ledger_rows: number;
  control_events: number;
  control_tenants_exact: boolean;
  stack_alive: boolean;
  /** The pipeline process's peak resident memory (Linux), to catch a leak under bad input. */
  stack_peak_rss_mb: number | null;
  seconds: number;
}

export const hostileTenants = [
  "acme.*.>",
  "a b\tc",
  "t'; DROP TABLE costline.ledger; --",
  'x" OR 1=1 --',
  "{tenant:String}",
  "../../etc/passwd",
  "tenant\u0000nul",
  "ünï©ødé-テナント",
  "$JS.API.STREAM.DELETE.COSTLINE_EVENTS",
  "~7e~2e",
  "%2e%2e",
  "`; SELECT * FROM system.users",
];

type Gen = (r: () => number, i: number) => { body: string | Uint8Array; elements: number };

const envelope = (i: number, data: unknown, extra: Record<string, unknown> = {}) => ({
  specversion: "1.0",
  id: `fz-${i}`,
  source: "test/fuzz",
  type: "costline.llm.usage",
  time: "2026-11-22T10:00:00Z",
  data,
  ...extra,
});
const usage = (tenant: string, u: Record<string, unknown>) => ({ tenant, provider: "openai", model: "gpt-4o", usage: u });
const pick = <T>(r: () => number, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
const one = (v: unknown) => ({ body: JSON.stringify(v), elements: 1 });

const digits = (r: () => number, n: number, nonZeroLast = false) =>
  Array.from({ length: n }, (_, k) => (k === n - 1 && nonZeroLast ? 1 + Math.floor(r() * 9) : Math.floor(r() * 10))).join("");
const sign = (r: () => number) => (r() < 0.3 ? "-" : "");
/** |amount| ≥ 1e9: the bound, the old schema's maximum, and random 10- to 24-digit amounts. */
const overBound = (r: () => number) =>
  r() < 0.3
    ? pick(r, [
        "1000000000",
        "-1000000000",
        "999999999999999999999999.999999999999999999",
        "-999999999999999999999999.999999999999999999",
        "1000000000.000000000001",
      ])
    : `${sign(r)}${1 + Math.floor(r() * 9)}${digits(r, 9 + Math.floor(r() * 15))}${r() < 0.5 ? `.${digits(r, 1 + Math.floor(r() * 12))}` : ""}`;
/** 13 to 18 significant decimals: below a picodollar, or more precise than the ledger keeps. */
const tooPrecise = (r: () => number) =>
  r() < 0.3
    ? pick(r, ["0.0000000000001", "-0.0000000000009", "0.123456789012345678", "5.2500000000001"])
    : `${sign(r)}${Math.floor(r() * 1e9)}.${digits(r, 12)}${digits(r, 1 + Math.floor(r() * 6), true)}`;
const amountEvent = (r: () => number, i: number, amount: string) => ({
  ...envelope(i, { tenant: pick(r, ["acme", ...hostileTenants]), amount, currency: "USD", category: "gpu" }),
  type: pick(r, ["costline.cost", "costline.revenue"]),
});

/** Each generator makes a message that must fail: `elements` is how many DLQ records it must produce. */
export const generators: Record<string, Gen> = {
  broken_json: (r, i) => {
    const good = JSON.stringify(envelope(i, usage("acme", { input_tokens: 1 })));
    const forms = [
      good.slice(0, Math.floor(r() * good.length)),
      "{",
      "[",
      "",
      "}{",
      "nul",
      good.replace(/"/g, "'"),
      '{"a":1,}',
      `${good}garbage`,
    ];
    return { body: pick(r, forms), elements: 1 };
  },
  not_an_event: (r) => ({
    body: pick(r, ["42", '"string"', "null", "true", "{}", "[[]]", "[null]", '{"__proto__":{"admin":true}}']),
    elements: 1,
  }),
  wrong_types: (r, i) =>
    one(
      pick(r, [
        envelope(i, usage("acme", { input_tokens: "many" })),
        { ...envelope(i, usage("acme", { input_tokens: 1 })), id: 123 },
        { ...envelope(i, usage("acme", { input_tokens: 1 })), time: "yesterday" },
        { ...envelope(i, "data as a string") },
        envelope(i, usage(42 as unknown as string, { input_tokens: 1 })),
        envelope(i, { ...usage("acme", { input_tokens: 1 }), batch: "yes" }),
        { ...envelope(i, usage("acme", { input_tokens: 1 })), specversion: 1 },
        envelope(i, { ...usage("acme", {}), usage: [1, 2, 3] }),
      ]),
    ),
  huge_strings: (r, i) => {
    const big = "x".repeat(50_000 + Math.floor(r() * 200_000));
    return one(
      pick(r, [
        envelope(i, usage(big, { input_tokens: 1 })),
        { ...envelope(i, usage("acme", { input_tokens: 1 })), id: big },
        envelope(i, { ...usage("acme", { input_tokens: 1 }), model: big }),
      ]),
    );
  },
  huge_numbers: (r, i) => {
    const n = pick(r, ["1e308", "1e400", "18446744073709551616", "-0.0000001", "1.5", "9007199254740993"]);
    return {
      body: JSON.stringify(envelope(i, usage("acme", { input_tokens: 0 }))).replace('"input_tokens":0', `"input_tokens":${n}`),
      elements: 1,
    };
  },
  nan_infinity: (r, i) => {
    const v = pick(r, ["NaN", "Infinity", "-Infinity", '"NaN"', '"Infinity"', "undefined"]);
    return {
      body: JSON.stringify(envelope(i, usage("acme", { output_tokens: 0 }))).replace('"output_tokens":0', `"output_tokens":${v}`),
      elements: 1,
    };
  },
  negative_tokens: (r, i) => one(envelope(i, usage("acme", { input_tokens: -1 - Math.floor(r() * 1e6), output_tokens: 5 }))),
  parts_above_whole: (_r, i) => one(envelope(i, usage("acme", { input_tokens: 10, cache_read_tokens: 50 }))),
  unknown_type: (r, i) =>
    one({
      ...envelope(i, usage("acme", { input_tokens: 1 })),
      type: pick(r, ["costline.llm.usagex", "com.example.other", "costline.*", "costline.llm.usage\u0000"]),
    }),
  missing_fields: (r, i) => {
    const e = envelope(i, usage("acme", { input_tokens: 1 })) as Record<string, unknown>;
    delete e[pick(r, ["specversion", "id", "source", "type", "data"])];
    return one(e);
  },
  bad_tenant: (r, i) => one(envelope(i, usage(pick(r, ["", " padded ", "\tacme", "x".repeat(129)]), { input_tokens: 1 }))),
  // A hostile tenant alone is a valid tenant (it is escaped, never interpreted); with a second fault it must land in the DLQ.
  hostile_tenant_with_fault: (r, i) => one(envelope(i, usage(pick(r, hostileTenants), { input_tokens: -5 }))),
  bad_cost_amount: (r, i) =>
    one({
      ...envelope(i, {
        tenant: pick(r, hostileTenants),
        amount: pick(r, ["1e5", "NaN", "12,50", "", "0x10", "--1"]),
        currency: "USD",
        category: "gpu",
      }),
      type: "costline.cost",
    }),
  // Money bounds (schemas/money.ts): each refused per event with its own reason, never rounded or wrapped.
  amount_out_of_range: (r, i) => one(amountEvent(r, i, overBound(r))),
  amount_too_many_decimals: (r, i) => one(amountEvent(r, i, tooPrecise(r))),
  amount_batch: (r, i) => {
    const size = 2 + Math.floor(r() * 5);
    return {
      body: JSON.stringify(Array.from({ length: size }, (_, k) => amountEvent(r, i * 10 + k, r() < 0.5 ? overBound(r) : tooPrecise(r)))),
      elements: size,
    };
  },
  bad_batch: (r, i) => {
    const size = 1 + Math.floor(r() * 3);
    return {
      body: JSON.stringify(Array.from({ length: size }, (_, k) => envelope(i * 10 + k, usage("acme", { input_tokens: -k - 1 })))),
      elements: size,
    };
  },
  empty_batch: () => ({ body: "[]", elements: 1 }),
  oversized_batch: (_r, i) => ({ body: JSON.stringify(Array.from({ length: 1001 }, (_, k) => ({ id: `${i}-${k}` }))), elements: 1 }),
  deep_nesting: (r) => {
    const depth = 1000 + Math.floor(r() * 20_000);
    return { body: `${"[".repeat(depth)}${"]".repeat(depth)}`, elements: 1 };
  },
  invalid_utf8: (r) => ({
    body: Buffer.concat([
      Buffer.from('{"specversion":"1.0","id":"'),
      Buffer.from([0xff, 0xfe, 0xc3, Math.floor(r() * 256)]),
      Buffer.from('","data":{}}'),
    ]),
    elements: 1,
  }),
};

export async function runFuzz(opts: { messages: number; seed?: number; log?: (s: string) => void }): Promise<FuzzReport> {
  const log = opts.log ?? (() => undefined);
  const started = Date.now();
  const r = seededRandom(opts.seed ?? 11);
  const stack = await startStack(tempHome("costline-fuzz-"), { COSTLINE_LOG_LEVEL: "warn" });
  const nc = await connectStack(stack);
  const js = jetstream(nc, { timeout: 30_000 });
  const jsm = await jetstreamManager(nc);
  const subjects = createSubjects("costline");
  const kinds = Object.keys(generators);
  const byKind: Record<string, number> = {};
  const expected = new Map<number, { elements: number; kind: string }>(); // stream sequence → the records it must produce
  let expectedTotal = 0;
  try {
    const inflight = new Set<Promise<void>>();
    for (let i = 0; i < opts.messages; i++) {
      const kind = kinds[i % kinds.length]!;
      const { body, elements } = generators[kind]!(r, i);
      byKind[kind] = (byKind[kind] ?? 0) + 1;
      expectedTotal += elements;
      // Mostly ordinary tenant subjects, some carrying hostile tenants (escaped as any producer's would be).
      const subject = subjects.events(i % 3 === 0 ? pick(r, hostileTenants) : "acme");
      const p = js.publish(subject, body, { msgID: `fuzz-${i}` }).then((ack) => {
        expected.set(ack.seq, { elements, kind });
      });
      inflight.add(p);
      void p.finally(() => inflight.delete(p));
      if (inflight.size >= 256) await Promise.race(inflight);
      if (i > 0 && i % 20_000 === 0) log(`${i} messages published`);
    }
    await Promise.all(inflight);

    // The control group: valid events whose tenants are the hostile strings.
    const control = hostileTenants.map((tenant, k) => ({
      ...envelope(900_000_000 + k, usage(tenant, { input_tokens: 100, output_tokens: 10 })),
      source: "test/fuzz-control",
    }));
    for (const e of control)
      await js.publish(subjects.events((e.data as { tenant: string }).tenant), JSON.stringify(e), { msgID: `fuzz-control-${e.id}` });
    log(`published ${opts.messages} malformed messages (${expectedTotal} DLQ records due) and ${control.length} control events`);

    // Only enrich dead-letters in this run; a record from another stage counts as a mismatch below.
    const dlqCount = async () => (await jsm.streams.info("COSTLINE_DLQ")).state.messages;
    // Until every record is there, or enrich has nothing left to do and the DLQ stopped growing.
    let last = -1;
    let still = 0;
    await waitFor(
      "every DLQ record, or enrich idle",
      async () => {
        const n = await dlqCount();
        if (n !== last) log(`DLQ holds ${n} of ${expectedTotal} records`);
        const c = await jsm.consumers.info("COSTLINE_EVENTS", "enrich");
        still = n === last && c.num_pending === 0 && c.num_ack_pending === 0 ? still + 1 : 0;
        last = n;
        return n >= expectedTotal || still >= 10 ? true : undefined;
      },
      600_000,
    );
    // Every message settled: a dead-lettered message is terminated, never left to be redelivered.
    const unsettled = async () => {
      const c = await jsm.consumers.info("COSTLINE_EVENTS", "enrich");
      return c.num_pending + c.num_ack_pending;
    };
    await waitFor("enrich to settle every message", async () => ((await unsettled()) === 0 ? true : undefined), 30_000).catch(
      () => undefined,
    );
    const enrichUnsettled = await unsettled();
    const ledger = async () => stack.sql<{ tenant: string; source: string }>("SELECT tenant, source FROM costline.ledger FINAL");
    await waitFor("the control events in the ledger", async () => ((await ledger()).length >= control.length ? true : undefined), 60_000);

    // Read every DLQ record back and match it to the message it came from.
    const seen = new Map<number, number>();
    const reasons: Record<string, number> = {};
    let withoutReason = 0;
    const consumer = await js.consumers.get("COSTLINE_DLQ", { deliver_policy: DeliverPolicy.All });
    const total = await dlqCount();
    let read = 0;
    while (read < total) {
      const batch = await consumer.fetch({ max_messages: 1000, expires: 5000 });
      for await (const m of batch) {
        read++;
        const rec = dlqRecordSchema.safeParse(m.json());
        if (!rec.success || !rec.data.detail || m.subject !== "costline.dlq.enrich") {
          withoutReason++;
          continue;
        }
        reasons[rec.data.reason] = (reasons[rec.data.reason] ?? 0) + 1;
        seen.set(rec.data.stream_seq, (seen.get(rec.data.stream_seq) ?? 0) + 1);
      }
    }
    let mismatched = withoutReason;
    const mismatchedByKind: Record<string, number> = {};
    for (const [seq, want] of expected)
      if (seen.get(seq) !== want.elements) {
        mismatched++;
        mismatchedByKind[want.kind] = (mismatchedByKind[want.kind] ?? 0) + 1;
      }
    for (const seq of seen.keys()) if (!expected.has(seq)) mismatched++;

    const rows = await ledger();
    // What else reached the ledger, to name it when it should not have.
    for (const x of rows.filter((row) => row.source !== "test/fuzz-control"))
      log(`in the ledger, not a control event: ${JSON.stringify(x)}`);
    const stored = new Set(rows.map((x) => x.tenant));
    return {
      messages: opts.messages,
      by_kind: byKind,
      expected_dlq_records: expectedTotal,
      dlq_records: total,
      dlq_by_reason: reasons,
      mismatched_messages: mismatched,
      mismatched_by_kind: mismatchedByKind,
      enrich_unsettled: enrichUnsettled,
      ledger_rows: rows.length,
      control_events: control.length,
      control_tenants_exact: rows.every((x) => x.source === "test/fuzz-control") && hostileTenants.every((t) => stored.has(t)),
      stack_alive: isAlive(stack.info.pid) && stack.child.exitCode === null,
      stack_peak_rss_mb: peakRssMb(stack.info.pid),
      seconds: Math.round((Date.now() - started) / 1000),
    };
  } finally {
    await nc.close();
    if (stack.child.exitCode === null) await stack.stop();
  }
}
