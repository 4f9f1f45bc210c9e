// nats-servers that demand credentials, for the security suites: one per
// method (user/password, token, user nkey, JWT creds in operator mode), each
// started the way the project starts its embedded server, with a config file.
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { createHash, randomBytes } from "node:crypto";
import { nkeys } from "@nats-io/nats-core";
import { startEmbeddedNats, type EmbeddedNats } from "../../pipeline/nats/embedded-server.ts";

export type AuthMethod = "user" | "token" | "nkey" | "creds";

export interface AuthServer extends EmbeddedNats {
  method: AuthMethod;
  dir: string;
  /** The secrets a client must present (and that must never be printed). */
  secrets: string[];
  /** Environment variables that let a costline process in. */
  env: Record<string, string>;
  /** Environment variables with a wrong secret of the same kind. */
  wrongEnv: Record<string, string>;
}

/** A random secret that is easy to search for in logs. */
export function secret(label: string): string {
  return `${label}-${randomBytes(12).toString("hex")}`;
}

const enc = new TextEncoder();
const dec = new TextDecoder();
const b64url = (b: Uint8Array | string) => Buffer.from(typeof b === "string" ? enc.encode(b) : b).toString("base64url");

/** A NATS v2 JWT: header, claims, ed25519 signature by the issuer's nkey. */
function jwt(issuer: ReturnType<typeof nkeys.createOperator>, sub: string, name: string, nats: Record<string, unknown>): string {
  const claims: Record<string, unknown> = {
    iat: Math.floor(Date.now() / 1000),
    iss: issuer.getPublicKey(),
    name,
    sub,
    nats: { ...nats, version: 2 },
  };
  claims.jti = createHash("sha256").update(JSON.stringify(claims)).digest("base64url").slice(0, 52).toUpperCase();
  const head = `${b64url(JSON.stringify({ typ: "JWT", alg: "ed25519-nkey" }))}.${b64url(JSON.stringify(claims))}`;
  return `${head}.${b64url(issuer.sign(enc.encode(head)))}`;
}

function credsFile(userJwt: string, seed: Uint8Array): string {
  return [
    "-----BEGIN NATS USER JWT-----",
    userJwt,
    "------END NATS USER JWT------",
    "",
    "-----BEGIN USER NKEY SEED-----",
    dec.decode(seed),
    "------END USER NKEY SEED------",
    "",
  ].join("\n");
}

/** Starts a JetStream nats-server under `dir` that admits only the given method. */
export async function startAuthServer(dir: string, method: AuthMethod): Promise<AuthServer> {
  mkdirSync(dir, { recursive: true });
  let conf: string;
  let secrets: string[];
  let env: Record<string, string>;
  let wrongEnv: Record<string, string>;
  switch (method) {
    case "user": {
      const password = secret("natspw");
      conf = `authorization { users: [ { user: "costline", password: "${password}" } ] }`;
      secrets = [password];
      env = { NATS_USER: "costline", NATS_PASSWORD: password };
      wrongEnv = { NATS_USER: "costline", NATS_PASSWORD: secret("wrongpw") };
      break;
    }
    case "token": {
      const token = secret("natstoken");
      conf = `authorization { token: "${token}" }`;
      secrets = [token];
      env = { NATS_TOKEN: token };
      wrongEnv = { NATS_TOKEN: secret("wrongtoken") };
      break;
    }
    case "nkey": {
      const user = nkeys.createUser();
      const other = nkeys.createUser();
      conf = `authorization { users: [ { nkey: "${user.getPublicKey()}" } ] }`;
      const seed = dec.decode(user.getSeed());
      secrets = [seed];
      env = { NATS_NKEY_SEED: seed };
      wrongEnv = { NATS_NKEY_SEED: dec.decode(other.getSeed()) };
      break;
    }
    case "creds": {
      const operator = nkeys.createOperator();
      const account = nkeys.createAccount();
      const user = nkeys.createUser();
      const stranger = nkeys.createUser();
      const unlimited = { subs: -1, data: -1, payload: -1, imports: -1, exports: -1, wildcards: true, conn: -1, leaf: -1 };
      const js = { mem_storage: -1, disk_storage: -1, streams: -1, consumer: -1 };
      const opJwt = jwt(operator, operator.getPublicKey(), "costline-test", { type: "operator" });
      const acJwt = jwt(operator, account.getPublicKey(), "APP", { type: "account", limits: { ...unlimited, ...js } });
      const userJwt = jwt(account, user.getPublicKey(), "costline", { type: "user", pub: {}, sub: {}, subs: -1, data: -1, payload: -1 });
      // Signed by an account the server does not know.
      const strangerJwt = jwt(nkeys.createAccount(), stranger.getPublicKey(), "stranger", {
        type: "user",
        pub: {},
        sub: {},
        subs: -1,
        data: -1,
        payload: -1,
      });
      // JetStream in operator mode needs a system account.
      const system = nkeys.createAccount();
      const sysJwt = jwt(operator, system.getPublicKey(), "SYS", { type: "account", limits: unlimited });
      conf = [
        `operator: ${opJwt}`,
        `system_account: ${system.getPublicKey()}`,
        "resolver: MEMORY",
        `resolver_preload: { ${account.getPublicKey()}: ${acJwt}, ${system.getPublicKey()}: ${sysJwt} }`,
      ].join("\n");
      const good = path.join(dir, "costline.creds");
      const bad = path.join(dir, "stranger.creds");
      writeFileSync(good, credsFile(userJwt, user.getSeed()), { mode: 0o600 });
      writeFileSync(bad, credsFile(strangerJwt, stranger.getSeed()), { mode: 0o600 });
      secrets = [dec.decode(user.getSeed())];
      env = { NATS_CREDS: good };
      wrongEnv = { NATS_CREDS: bad };
      break;
    }
  }
  const configFile = path.join(dir, "auth.conf");
  writeFileSync(configFile, `${conf}\n`, { mode: 0o600 });
  const server = await startEmbeddedNats({
    bin: "nats-server",
    storeDir: path.join(dir, "store"),
    logFile: path.join(dir, "nats-server.log"),
    configFile,
  });
  return { ...server, method, dir, secrets, env, wrongEnv };
}
