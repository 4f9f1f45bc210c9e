// OTLP ingest: `npm run bench:otlp -- [--spans 20000] [--batch 500] [--concurrency 4] [--latency-spans 300] [--out FILE]`.
// Starts `costline up` (the compiled build, embedded NATS and ClickHouse) and
// sends GenAI spans to POST /v1/traces as protobuf, encoded by OpenTelemetry's
// own serializer. Two phases:
//   latency:    one span per request at ~30 requests/s; span-to-queryable is
//               the ledger row's ingested_at (ClickHouse's clock, this machine)
//               minus the moment the request was sent; p50/p99.
//   throughput: --spans spans in --batch-span requests, --concurrency at once;
//               accepted spans/s (HTTP 200s) and end-to-end spans/s (until the
//               ledger counts them all).
import { writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { setTimeout as sleep } from "node:timers/promises";
import { NodeTracerProvider } from "@opentelemetry/sdk-trace-node";
import { InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from "@opentelemetry/sdk-trace-base";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { ProtobufTraceSerializer } from "@opentelemetry/otlp-transformer";
import { startStack, tempHome } from "../test/helpers/stack-process.ts";

const { values: args } = parseArgs({
  options: {
    spans: { type: "string", default: "20000" },
    batch: { type: "string", default: "500" },
    concurrency: { type: "string", default: "4" },
    "latency-spans": { type: "string", default: "300" },
    out: { type: "string" },
  },
});
const SPANS = Number(args.spans);
const BATCH = Number(args.batch);
const CONCURRENCY = Number(args.concurrency);
const LATENCY_SPANS = Number(args["latency-spans"]);
const MODELS = ["gpt-4o", "gpt-4o-mini", "claude-sonnet-4-20250514", "gemini-2.5-flash"];
const PROVIDERS = ["openai", "openai", "anthropic", "gcp.gemini"];

const stack = await startStack(tempHome("costline-bench-otlp-"));
const keyRes = await fetch(`${stack.info.api_url}/v1/admin/keys`, {
  method: "POST",
  headers: { authorization: `Bearer ${stack.adminKey}`, "content-type": "application/json" },
  body: JSON.stringify({ tenant: "bench-otlp", name: "bench" }),
});
const key = ((await keyRes.json()) as { key: string }).key;

const memory = new InMemorySpanExporter();
const provider = new NodeTracerProvider({
  resource: resourceFromAttributes({ "service.name": "bench" }),
  spanProcessors: [new SimpleSpanProcessor(memory)],
});
const tracer = provider.getTracer("bench");

function makeSpans(n: number, offset: number): ReadableSpan[] {
  memory.reset();
  for (let i = 0; i < n; i++) {
    const m = (offset + i) % MODELS.length;
    tracer
      .startSpan("chat", {
        attributes: {
          "gen_ai.provider.name": PROVIDERS[m]!,
          "gen_ai.request.model": MODELS[m]!,
          "gen_ai.usage.input_tokens": 500 + ((offset + i) % 3000),
          "gen_ai.usage.output_tokens": 100 + ((offset + i) % 900),
          "user.id": `u-${(offset + i) % 500}`,
        },
      })
      .end();
  }
  return memory.getFinishedSpans();
}

async function post(body: Uint8Array): Promise<void> {
  const res = await fetch(`${stack.info.api_url}/v1/traces`, {
    method: "POST",
    body: body as Uint8Array<ArrayBuffer>,
    headers: { authorization: `Bearer ${key}`, "content-type": "application/x-protobuf" },
  });
  if (res.status !== 200) throw new Error(`POST /v1/traces answered ${res.status}: ${await res.text()}`);
  await res.arrayBuffer();
}

const count = async () =>
  Number(
    (await stack.sql<{ n: string }>("SELECT toString(count()) AS n FROM costline.ledger FINAL WHERE tenant = 'bench-otlp'"))[0]?.n ?? 0,
  );
const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;

try {
  // Latency phase.
  const sentAt = new Map<string, number>();
  for (let i = 0; i < LATENCY_SPANS; i++) {
    const spans = makeSpans(1, i);
    const ctx = spans[0]!.spanContext();
    const body = ProtobufTraceSerializer.serializeRequest(spans)!;
    sentAt.set(`${ctx.traceId}${ctx.spanId}`, Date.now());
    await post(body);
    await sleep(33);
  }
  const deadline = Date.now() + 60_000;
  while ((await count()) < LATENCY_SPANS && Date.now() < deadline) await sleep(100);
  const rows = await stack.sql<{ event_id: string; at: string }>(
    "SELECT event_id, toString(toUnixTimestamp64Milli(ingested_at)) AS at FROM costline.ledger FINAL WHERE tenant = 'bench-otlp'",
  );
  const latencies = rows
    .filter((r) => sentAt.has(r.event_id))
    .map((r) => Number(r.at) - sentAt.get(r.event_id)!)
    .sort((a, b) => a - b);

  // Throughput phase: bodies encoded up front, so the figure is the receiver's, not the encoder's.
  const bodies: Uint8Array[] = [];
  for (let offset = 0; offset < SPANS; offset += BATCH)
    bodies.push(ProtobufTraceSerializer.serializeRequest(makeSpans(Math.min(BATCH, SPANS - offset), LATENCY_SPANS + offset))!);
  const before = await count();
  const started = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < bodies.length) await post(bodies[next++]!);
    }),
  );
  const acceptedS = (performance.now() - started) / 1000;
  const e2eDeadline = Date.now() + 300_000;
  while ((await count()) < before + SPANS && Date.now() < e2eDeadline) await sleep(100);
  const e2eS = (performance.now() - started) / 1000;
  const stored = (await count()) - before;
  const result = {
    spans: SPANS,
    batch: BATCH,
    concurrency: CONCURRENCY,
    accepted_spans_per_s: Math.round(SPANS / acceptedS),
    end_to_end_spans_per_s: Math.round(stored / e2eS),
    stored_spans: stored,
    span_to_queryable_ms: {
      samples: latencies.length,
      p50: pct(latencies, 50),
      p99: pct(latencies, 99),
      max: latencies[latencies.length - 1] ?? NaN,
    },
  };
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  if (args.out) writeFileSync(args.out, `${JSON.stringify(result, null, 2)}\n`);
} finally {
  await provider.shutdown();
  await stack.stop();
}
