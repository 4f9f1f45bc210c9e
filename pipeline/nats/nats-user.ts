// NATS settings as one user: kept apart from connect.ts so that a command
// which only works out credentials (the CLI's stack client) does not load the
// NATS client library.
import type { Config } from "../config/config.ts";

/** The NATS settings with these user credentials in place of any configured ones. */
export function asNatsUser<T extends Config["nats"]>(nats: T, user: string, password: string): T {
  return { ...nats, user, password, token: undefined, credsFile: undefined, nkeySeed: undefined, nkeySeedFile: undefined };
}
