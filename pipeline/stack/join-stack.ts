// `costline run STAGE…` joining a `costline up` on this machine: when
// NATS_URL and CLICKHOUSE_URL are the ones the stack's stack.json records and
// no credentials are given, the process takes the stack's own — the NATS
// pipeline role (nats-auth/credentials.json) and the ClickHouse HTTP writer
// (clickhouse-http.json) — from $COSTLINE_HOME, so
//
//   NATS_URL=… CLICKHOUSE_URL=… npx costline run enrich ledger
//
// is all it takes. Credentials are only ever filled in for the URLs of this
// home's running stack, never sent to another server. It serves its probes
// on a free port unless COSTLINE_METRICS_PORT says otherwise: the stack's API
// already has COSTLINE_API_PORT.
import type { Config } from "../config/config.ts";
import { readHttpWriter } from "../clickhouse/http-writer.ts";
import { roleCredentials } from "../nats/credentials.ts";
import { redactUrlCredentials } from "../nats/connect.ts";
import { findLiveStack } from "./stack-file.ts";

const natsServers = (url: string) =>
  redactUrlCredentials(url)
    .split(",")
    .map((u) => u.trim().replace(/\/+$/, ""))
    .sort()
    .join(",");
const sameHttp = (a: string, b: string) => {
  try {
    const x = new URL(a);
    const y = new URL(b);
    return x.protocol === y.protocol && x.hostname === y.hostname && x.port === y.port;
  } catch {
    return false;
  }
};

export interface Joined {
  config: Config;
  /** What was taken from the stack, for the log: "nats", "clickhouse". */
  took: string[];
}

export function joinLocalStack(config: Config): Joined {
  const stack = findLiveStack(config.stackFile);
  if (!stack) return { config, took: [] };
  const took: string[] = [];
  let nats = config.nats;
  let clickhouse = config.clickhouse;
  const natsAuthGiven = nats.user || nats.token || nats.credsFile || nats.nkeySeed || nats.nkeySeedFile || /@/.test(nats.url ?? "");
  if (nats.url && !natsAuthGiven && natsServers(nats.url) === natsServers(stack.nats_url)) {
    const creds = roleCredentials(config.home, "pipeline");
    if (creds) {
      nats = { ...nats, user: creds.user, password: creds.password };
      took.push("nats");
    }
  }
  if (
    clickhouse.url &&
    !clickhouse.user &&
    !clickhouse.password &&
    stack.clickhouse_url &&
    sameHttp(clickhouse.url, stack.clickhouse_url)
  ) {
    const writer = readHttpWriter(config.home);
    if (writer) {
      clickhouse = { ...clickhouse, user: writer.user, password: writer.password };
      took.push("clickhouse");
    }
  }
  if (took.length === 0) return { config, took };
  const metrics = { ...config.metrics, port: config.metrics.port ?? 0 };
  return { config: { ...config, nats, clickhouse, metrics }, took };
}
