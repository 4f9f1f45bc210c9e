// POST /v1/traces: the OTLP/HTTP traces receiver. A tenant API key names the
// tenant; the body is protobuf or JSON, gzip or not; the answer is an
// ExportTraceServiceResponse in the request's encoding, with partial_success
// when spans were rejected, or a google.rpc.Status on an error
// (400 unreadable, 415 unsupported, 503 when JetStream cannot take the events).
import { Hono, type Context } from "hono";
import type { ApiEnv } from "../api/auth.ts";
import type { Metrics } from "../observability/metrics.ts";
import type { Logger } from "../observability/log.ts";
import type { OtlpAttributeMap } from "./otlp-config.ts";
import { decodeRequest, decompress, encodingOf, OtlpRequestError, type Encoding } from "./otlp-request.ts";
import { ingestSpans, type PublishEvents } from "./otlp-ingest.ts";
import { otlpMetrics } from "./otlp-metrics.ts";
import { otlpProto } from "./proto-root.ts";

export interface OtlpDeps {
  publish: PublishEvents;
  attributes: OtlpAttributeMap;
  metrics: Metrics;
  log?: Logger;
}

// google.rpc.Code values the answers carry.
const INVALID_ARGUMENT = 3;
const PERMISSION_DENIED = 7;
const UNAVAILABLE = 14;

function answer(
  c: Context<ApiEnv>,
  encoding: Encoding,
  status: number,
  body: Record<string, unknown>,
  kind: "response" | "status",
): Response {
  if (encoding === "json") return c.json(body, status as 200);
  const proto = otlpProto();
  const type = kind === "response" ? proto.response : proto.status;
  const bytes = type.encode(type.fromObject(body)).finish();
  return c.body(Buffer.from(bytes), status as 200, { "content-type": "application/x-protobuf" });
}

export function otlpRoutes(deps: OtlpDeps): Hono<ApiEnv> {
  const app = new Hono<ApiEnv>();
  const m = otlpMetrics(deps.metrics.registry);
  app.post("/traces", async (c) => {
    const encoding = encodingOf(c.req.header("content-type"));
    const done = (res: Response) => {
      m.requests.inc({ status: String(res.status) });
      return res;
    };
    if (!encoding) {
      return done(c.json({ code: INVALID_ARGUMENT, message: "Content-Type must be application/x-protobuf or application/json" }, 415));
    }
    const principal = c.get("principal");
    if (principal.role !== "tenant") {
      return done(
        answer(
          c,
          encoding,
          403,
          { code: PERMISSION_DENIED, message: "OTLP export needs a tenant API key: its tenant owns the spans" },
          "status",
        ),
      );
    }
    let spans;
    try {
      spans = decodeRequest(decompress(new Uint8Array(await c.req.arrayBuffer()), c.req.header("content-encoding")), encoding);
    } catch (err) {
      if (!(err instanceof OtlpRequestError)) throw err;
      return done(answer(c, encoding, err.unsupported ? 415 : 400, { code: INVALID_ARGUMENT, message: err.message }, "status"));
    }
    let result;
    try {
      result = await ingestSpans(spans, principal.tenant, deps.attributes, deps.publish);
    } catch (err) {
      // JetStream did not store the events: a retryable answer, so the exporter sends the batch again.
      deps.log?.warn({ err, spans: spans.length }, "OTLP spans could not be published");
      c.header("retry-after", "2");
      return done(answer(c, encoding, 503, { code: UNAVAILABLE, message: "the event stream is unavailable; retry later" }, "status"));
    }
    m.spans.inc({ result: "llm" }, result.llm);
    m.spans.inc({ result: "skipped" }, result.skipped);
    m.spans.inc({ result: "rejected" }, result.rejected);
    const body = result.rejected ? { partialSuccess: { rejectedSpans: result.rejected, errorMessage: result.reasons.join("; ") } } : {};
    return done(answer(c, encoding, 200, body, "response"));
  });
  return app;
}
