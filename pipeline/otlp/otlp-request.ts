// An OTLP/HTTP traces request body → the spans it carries, with their
// resource's attributes. Both encodings (binary protobuf and OTLP/JSON) and
// gzip; the JSON and the protobuf object forms share one shape (lowerCamelCase
// keys, AnyValue oneofs), only ids differ: bytes in protobuf, hex in JSON.
import { gunzipSync } from "node:zlib";
import { otlpProto } from "./proto-root.ts";

export type AttrValue = string | number | boolean | AttrValue[] | { [k: string]: AttrValue } | null;
export type Attributes = Map<string, AttrValue>;

export interface OtlpSpan {
  /** Lower-case hex, "" when absent or not 16 bytes. */
  traceId: string;
  /** Lower-case hex, "" when absent or not 8 bytes. */
  spanId: string;
  name: string;
  /** Nanoseconds since the epoch, as a bigint (0n when absent). */
  startNs: bigint;
  endNs: bigint;
  /** Status code: 0 unset, 1 ok, 2 error. */
  statusCode: number;
  attributes: Attributes;
  resource: Attributes;
}

export type Encoding = "protobuf" | "json";

/** A request that cannot be read at all: answered 400 (415 for `unsupported`). */
export class OtlpRequestError extends Error {
  constructor(
    message: string,
    readonly unsupported = false,
  ) {
    super(message);
  }
}

/** Decompressed bodies larger than this are refused: a small gzip body can expand a thousandfold. */
export const MAX_DECOMPRESSED_BYTES = 64 * 1024 * 1024;

export function encodingOf(contentType: string | undefined): Encoding | undefined {
  const type = (contentType ?? "").split(";")[0]!.trim().toLowerCase();
  if (type === "application/x-protobuf" || type === "application/protobuf") return "protobuf";
  if (type === "application/json") return "json";
  return undefined;
}

export function decompress(body: Uint8Array, contentEncoding: string | undefined): Uint8Array {
  const enc = (contentEncoding ?? "identity").trim().toLowerCase();
  if (enc === "identity" || enc === "") return body;
  if (enc !== "gzip") throw new OtlpRequestError(`unsupported Content-Encoding "${enc}" (gzip or none)`, true);
  try {
    return gunzipSync(body, { maxOutputLength: MAX_DECOMPRESSED_BYTES });
  } catch (err) {
    throw new OtlpRequestError(`gzip body could not be decompressed: ${(err as Error).message}`);
  }
}

export function decodeRequest(body: Uint8Array, encoding: Encoding): OtlpSpan[] {
  let request: unknown;
  if (encoding === "protobuf") {
    const { request: type } = otlpProto();
    try {
      request = type.toObject(type.decode(body), { longs: String, enums: Number, bytes: Buffer });
    } catch (err) {
      throw new OtlpRequestError(`not an ExportTraceServiceRequest: ${(err as Error).message}`);
    }
  } else {
    try {
      request = JSON.parse(Buffer.from(body).toString("utf8"));
    } catch {
      throw new OtlpRequestError("body is not valid JSON");
    }
  }
  return spansOf(request);
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
/** A field by its lowerCamelCase name or its proto name (the JSON mapping allows both). */
const field = (o: Obj, camel: string, snake: string): unknown => o[camel] ?? o[snake];

function spansOf(request: unknown): OtlpSpan[] {
  if (!isObj(request)) throw new OtlpRequestError("an ExportTraceServiceRequest must be an object");
  const spans: OtlpSpan[] = [];
  for (const rs of list(field(request, "resourceSpans", "resource_spans"))) {
    if (!isObj(rs)) continue;
    const resource = attributesOf(isObj(rs.resource) ? rs.resource.attributes : undefined);
    for (const ss of list(field(rs, "scopeSpans", "scope_spans"))) {
      if (!isObj(ss)) continue;
      for (const s of list(ss.spans)) {
        if (!isObj(s)) continue;
        spans.push({
          traceId: idHex(field(s, "traceId", "trace_id"), 16),
          spanId: idHex(field(s, "spanId", "span_id"), 8),
          name: typeof s.name === "string" ? s.name : "",
          startNs: nanos(field(s, "startTimeUnixNano", "start_time_unix_nano")),
          endNs: nanos(field(s, "endTimeUnixNano", "end_time_unix_nano")),
          statusCode: isObj(s.status) && typeof s.status.code === "number" ? s.status.code : 0,
          attributes: attributesOf(s.attributes),
          resource,
        });
      }
    }
  }
  return spans;
}

function idHex(v: unknown, bytes: number): string {
  let hex = "";
  if (v instanceof Uint8Array) hex = Buffer.from(v).toString("hex");
  else if (typeof v === "string") hex = v.toLowerCase();
  return new RegExp(`^[0-9a-f]{${bytes * 2}}$`).test(hex) && !/^0+$/.test(hex) ? hex : "";
}

function nanos(v: unknown): bigint {
  try {
    if (typeof v === "string" && /^\d{1,20}$/.test(v)) return BigInt(v);
    if (typeof v === "number" && Number.isSafeInteger(v) && v >= 0) return BigInt(v);
  } catch {
    // fall through: an unreadable time is treated as absent
  }
  return 0n;
}

export function attributesOf(kvs: unknown): Attributes {
  const out: Attributes = new Map();
  for (const kv of list(kvs)) {
    if (isObj(kv) && typeof kv.key === "string") out.set(kv.key, anyValue(kv.value));
  }
  return out;
}

function anyValue(v: unknown): AttrValue {
  if (!isObj(v)) return null;
  const s = field(v, "stringValue", "string_value");
  if (typeof s === "string") return s;
  const b = field(v, "boolValue", "bool_value");
  if (typeof b === "boolean") return b;
  const i = field(v, "intValue", "int_value");
  if (typeof i === "number") return i;
  if (typeof i === "string" && /^-?\d+$/.test(i)) return Number(i);
  const d = field(v, "doubleValue", "double_value");
  if (typeof d === "number") return d;
  const arr = field(v, "arrayValue", "array_value");
  if (isObj(arr)) return list(arr.values).map(anyValue);
  const kvl = field(v, "kvlistValue", "kvlist_value");
  if (isObj(kvl)) return Object.fromEntries(attributesOf(kvl.values));
  return null;
}
