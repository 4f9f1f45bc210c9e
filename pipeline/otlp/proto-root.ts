// The OTLP trace messages, decoded and encoded by protobufjs from the official
// opentelemetry-proto definitions shipped beside this module (proto/, Apache-2.0).
// Loaded on the first protobuf request, once per process.
import protobuf from "protobufjs";
import path from "node:path";
import { packagePath } from "../package-root.ts";

export interface OtlpProto {
  request: protobuf.Type;
  response: protobuf.Type;
  /** google.rpc.Status, the body of an OTLP/HTTP error answer (its details are left out). */
  status: protobuf.Type;
}

let loaded: OtlpProto | undefined;

export function otlpProto(): OtlpProto {
  if (loaded) return loaded;
  const dir = packagePath("pipeline", "otlp", "proto");
  const root = new protobuf.Root();
  // The .proto files import each other by their path under proto/.
  root.resolvePath = (_origin, target) => (path.isAbsolute(target) ? target : path.join(dir, target));
  root.loadSync("opentelemetry/proto/collector/trace/v1/trace_service.proto", { keepCase: false });
  root.resolveAll();
  const status = new protobuf.Type("Status").add(new protobuf.Field("code", 1, "int32")).add(new protobuf.Field("message", 2, "string"));
  new protobuf.Root().define("google.rpc").add(status);
  loaded = {
    request: root.lookupType("opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest"),
    response: root.lookupType("opentelemetry.proto.collector.trace.v1.ExportTraceServiceResponse"),
    status,
  };
  return loaded;
}
