// Opens the NATS connection from configuration: URL plus user/password,
// token or a creds file. Reconnects forever; the stages ride out outages.
import { readFileSync } from "node:fs";
import { credsAuthenticator } from "@nats-io/nats-core";
import { connect, type NodeConnectionOptions } from "@nats-io/transport-node";
import type { NatsConnection } from "@nats-io/nats-core";
import type { Config } from "../config/config.ts";
import { ConfigError } from "../errors.ts";

export function natsOptions(nats: Config["nats"] & { url: string }, name: string): NodeConnectionOptions {
  const opts: NodeConnectionOptions = {
    servers: nats.url.split(",").map((s) => s.trim()),
    name,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
    waitOnFirstConnect: false,
  };
  if (nats.user) {
    opts.user = nats.user;
    opts.pass = nats.password;
  }
  if (nats.token) opts.token = nats.token;
  if (nats.credsFile) {
    let creds: Uint8Array;
    try {
      creds = readFileSync(nats.credsFile);
    } catch (err) {
      throw new ConfigError(`cannot read NATS_CREDS ${nats.credsFile}: ${(err as Error).message}`);
    }
    opts.authenticator = credsAuthenticator(creds);
  }
  return opts;
}

export async function connectNats(nats: Config["nats"] & { url: string }, name: string): Promise<NatsConnection> {
  return connect(natsOptions(nats, name));
}
