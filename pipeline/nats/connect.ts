// Opens the NATS connection from configuration: URL plus user/password,
// token, a user nkey seed, or a JWT creds file. Reconnects forever; the stages
// ride out outages. A refused first connection is a ConfigError that names the
// method and the server (credentials stripped), never the secret.
import { readFileSync } from "node:fs";
import { credsAuthenticator, nkeyAuthenticator, nkeys } from "@nats-io/nats-core";
import { connect, type NodeConnectionOptions } from "@nats-io/transport-node";
import type { NatsConnection } from "@nats-io/nats-core";
import type { Config } from "../config/config.ts";
import { ConfigError, TransientError, errorMessage } from "../errors.ts";
import { inboxOf } from "./roles.ts";

export function natsOptions(nats: Config["nats"] & { url: string }, name: string): NodeConnectionOptions {
  const inUrl = urlCredentials(nats.url);
  const opts: NodeConnectionOptions = {
    servers: inUrl.servers,
    name,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
    waitOnFirstConnect: false,
    // The client otherwise builds an Error (a stack capture) for every request, publish ack and
    // ack-ack in case it fails: 3 % of the pipeline's CPU at 5,000 events/s. Errors keep their
    // message and class; only the async call site is not recorded.
    noAsyncTraces: true,
  };
  // nats://user:password@host or nats://token@host, unless credentials are configured on their own.
  if (!nats.user && !nats.token && !nats.nkeySeed && !nats.nkeySeedFile && !nats.credsFile) {
    if (inUrl.pass !== undefined) Object.assign(opts, { user: inUrl.user, pass: inUrl.pass });
    else if (inUrl.user) opts.token = inUrl.user;
  }
  if (nats.user) {
    opts.user = nats.user;
    opts.pass = nats.password;
  }
  if (nats.token) opts.token = nats.token;
  const seed = nkeySeed(nats);
  if (seed) opts.authenticator = nkeyAuthenticator(seed);
  if (nats.credsFile) {
    let creds: Uint8Array;
    try {
      creds = readFileSync(nats.credsFile);
    } catch (err) {
      throw new ConfigError(`cannot read NATS_CREDS ${nats.credsFile}: ${(err as Error).message}`);
    }
    opts.authenticator = credsAuthenticator(creds);
  }
  // A named user answers on its own inbox, the only one its permissions let it read (see roles.ts).
  if (opts.user) opts.inboxPrefix = inboxOf(opts.user);
  return opts;
}

export { asNatsUser } from "./nats-user.ts";

/** Client credentials as the SDK and the guard take them: NATS_USER/NATS_PASSWORD, NATS_TOKEN or NATS_CREDS. */
export interface NatsAuth {
  user?: string;
  password?: string;
  token?: string;
  /** A JWT creds file (NATS_CREDS). */
  credsFile?: string;
}

/** The credentials named by NATS_USER/NATS_PASSWORD, NATS_TOKEN and NATS_CREDS in `env`. */
export function natsAuthFromEnv(env: NodeJS.ProcessEnv = process.env): NatsAuth {
  const pick = (k: string) => (env[k] && env[k]!.trim() !== "" ? env[k] : undefined);
  return { user: pick("NATS_USER"), password: pick("NATS_PASSWORD"), token: pick("NATS_TOKEN"), credsFile: pick("NATS_CREDS") };
}

/** Connection options for `auth` (user and password, token or creds file), with the user's own inbox prefix. */
export function natsAuthOptions(auth: NatsAuth): Partial<NodeConnectionOptions> {
  const opts: Partial<NodeConnectionOptions> = {};
  if (auth.user) Object.assign(opts, { user: auth.user, pass: auth.password, inboxPrefix: inboxOf(auth.user) });
  if (auth.token) opts.token = auth.token;
  if (auth.credsFile) {
    try {
      opts.authenticator = credsAuthenticator(readFileSync(auth.credsFile));
    } catch (err) {
      throw new ConfigError(`cannot read NATS_CREDS ${auth.credsFile}: ${(err as Error).message}`);
    }
  }
  return opts;
}

/** The user nkey seed from NATS_NKEY_SEED or NATS_NKEY_SEED_FILE, checked to be one ("SU…"). */
function nkeySeed(nats: Config["nats"]): Uint8Array | undefined {
  let text = nats.nkeySeed;
  const from = nats.nkeySeedFile ? `NATS_NKEY_SEED_FILE ${nats.nkeySeedFile}` : "NATS_NKEY_SEED";
  if (nats.nkeySeedFile) {
    try {
      text = readFileSync(nats.nkeySeedFile, "utf8");
    } catch (err) {
      throw new ConfigError(`cannot read NATS_NKEY_SEED_FILE ${nats.nkeySeedFile}: ${(err as Error).message}`);
    }
  }
  if (text === undefined) return undefined;
  const seed = new TextEncoder().encode(text.trim());
  let isUser = false;
  try {
    isUser = nkeys.fromSeed(seed).getPublicKey().startsWith("U");
  } catch {
    // the library's message says only "invalid checksum" or similar; ours names the setting
  }
  if (!isUser)
    throw new ConfigError(`${from} is not a user nkey seed (expected a string starting with "SU", as nsc or \`nk -gen user\` prints)`);
  return seed;
}

/** The server list without user:password@ parts, and the first credentials found in it (the client library ignores them). */
function urlCredentials(url: string): { servers: string[]; user?: string; pass?: string } {
  let user: string | undefined;
  let pass: string | undefined;
  const servers = url.split(",").map((raw) => {
    const m = /^([a-z]+:\/\/)([^@/\s]*)@(.*)$/i.exec(raw.trim());
    if (!m) return raw.trim();
    const [u, ...p] = m[2]!.split(":");
    if (user === undefined) {
      user = decodeURIComponent(u!);
      pass = p.length ? decodeURIComponent(p.join(":")) : undefined;
    }
    return `${m[1]}${m[3]}`;
  });
  return { servers, user, pass };
}

/** Which credentials a connection presents, for error messages. */
function authMethod(nats: Config["nats"] & { url: string }): string {
  if (nats.credsFile) return "creds file NATS_CREDS";
  if (nats.nkeySeed || nats.nkeySeedFile) return "nkey NATS_NKEY_SEED";
  if (nats.token) return "token NATS_TOKEN";
  if (nats.user) return "user NATS_USER / NATS_PASSWORD";
  const inUrl = urlCredentials(nats.url);
  if (inUrl.user) return inUrl.pass !== undefined ? "user and password in NATS_URL" : "token in NATS_URL";
  return "no credentials (set NATS_USER/NATS_PASSWORD, NATS_TOKEN, NATS_NKEY_SEED or NATS_CREDS)";
}

/** A URL (or a comma-separated list of them) without user:password@ parts, for messages, logs and stack.json. */
export function redactUrlCredentials(url: string): string {
  return url.replace(/([a-z]+:\/\/)[^@/\s,]*@/gi, "$1");
}

export async function connectNats(nats: Config["nats"] & { url: string }, name: string): Promise<NatsConnection> {
  const opts = natsOptions(nats, name);
  const where = redactUrlCredentials(nats.url);
  try {
    return await connect(opts);
  } catch (err) {
    const why = redactUrlCredentials(errorMessage(err));
    if ((err as Error).name === "AuthorizationError" || /authori[sz]ation|authentication/i.test(why))
      throw new ConfigError(`NATS at ${where} refused the connection (${why}); credentials presented: ${authMethod(nats)}`, { cause: err });
    throw new TransientError("unavailable", `cannot connect to NATS at ${where}: ${why}`, { cause: err });
  }
}

/** Calls `onChange` with the time the connection dropped, and with undefined once it is back, for the connection's life. */
export function onConnectionChange(nc: NatsConnection, onChange: (downSince: number | undefined) => void): void {
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === "disconnect") onChange(Date.now());
      else if (s.type === "reconnect") onChange(undefined);
    }
  })();
}
