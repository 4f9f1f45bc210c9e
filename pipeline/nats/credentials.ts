// The embedded nats-server's users, kept under $COSTLINE_HOME/nats-auth
// (directory 0700, files 0600): credentials.json holds the passwords of the
// roles costline itself connects as (pipeline, operator, publisher) and the
// bcrypt hashes of producer users issued with `costline keys create --nats`
// (their passwords are printed once and never stored); nats-auth.conf is the
// server configuration rendered from it. Created on the first start, reused
// on every later one, so a restart (even after SIGKILL) keeps its users.
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { randomBytes } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import bcrypt from "bcryptjs";
import * as z from "zod";
import { ConfigError } from "../errors.ts";
import { operatorPermissions, pipelinePermissions, producerPermissions, publisherPermissions, type Permissions } from "./roles.ts";
import { subjectToken } from "./subjects.ts";

/** The account every costline user belongs to; its JetStream holds the streams and buckets. */
export const natsAccount = "COSTLINE";
/**
 * bcrypt cost: its minimum. nats-server checks the hash on every CONNECT, and
 * at cost 11 (`nats server passwd`'s) that took 175 ms of the server's CPU and
 * 180 ms of every connection's set-up on this project's two-core machine, against
 * 3 ms at 4: each CLI call, pipeline start and producer reconnect paid it, and
 * so would anyone who hammers the port with wrong passwords. The work factor
 * only slows the guessing of a low-entropy password from a leaked hash; every
 * password here is 192 random bits (`newPassword`), out of reach of guessing at
 * any cost. Role hashes of an older home are re-hashed at this cost on the next
 * start (`update`).
 */
export const BCRYPT_COST = 4;

const roleUser = z.object({ password: z.string().min(16), hash: z.string() });
const producerUser = z.object({ tenant: z.string(), hash: z.string(), created_at: z.string() });
const fileSchema = z.object({
  version: z.literal(1),
  pipeline: roleUser,
  operator: roleUser,
  publisher: roleUser,
  producers: z.record(z.string(), producerUser).default({}),
});
export type NatsCredentialsFile = z.infer<typeof fileSchema>;

export const builtinUsers = { pipeline: "costline-pipeline", operator: "costline-operator", publisher: "costline-publisher" } as const;
export type BuiltinRole = keyof typeof builtinUsers;

export interface NatsAuthPaths {
  dir: string;
  credentials: string;
  serverConfig: string;
}

export function natsAuthPaths(home: string): NatsAuthPaths {
  const dir = path.join(home, "nats-auth");
  return { dir, credentials: path.join(dir, "credentials.json"), serverConfig: path.join(dir, "nats-auth.conf") };
}

/** A password with 192 bits of randomness, safe in a URL and a config string. */
export function newPassword(): string {
  return randomBytes(24).toString("base64url");
}

export function hashPassword(password: string): string {
  return bcrypt.hashSync(password, BCRYPT_COST);
}

function newRoleUser() {
  const password = newPassword();
  return { password, hash: hashPassword(password) };
}

/** A role hashed at a higher cost than today's (a home from an older version) gets a new hash of the same password. */
function atCurrentCost(user: { password: string; hash: string }): { password: string; hash: string } {
  return bcrypt.getRounds(user.hash) > BCRYPT_COST ? { password: user.password, hash: hashPassword(user.password) } : user;
}

function writePrivate(file: string, text: string): void {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, text, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, file);
}

function ensureDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
}

export function readNatsCredentials(home: string): NatsCredentialsFile | undefined {
  const { credentials } = natsAuthPaths(home);
  if (!existsSync(credentials)) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(credentials, "utf8"));
  } catch (err) {
    throw new ConfigError(`cannot read ${credentials}: ${(err as Error).message}`);
  }
  const r = fileSchema.safeParse(parsed);
  if (!r.success) throw new ConfigError(`${credentials} is not a costline NATS credentials file (delete it to start over with new users)`);
  return r.data;
}

/** The user and password of a built-in role, when this home has them. */
export function roleCredentials(home: string, role: BuiltinRole): { user: string; password: string } | undefined {
  const file = readNatsCredentials(home);
  return file && { user: builtinUsers[role], password: file[role].password };
}

/** One writer at a time (`costline up` and `costline keys create --nats` may run together). */
async function withLock<T>(dir: string, fn: () => T): Promise<T> {
  const lock = path.join(dir, ".lock");
  for (let i = 0; ; i++) {
    try {
      closeSync(openSync(lock, "wx", 0o600));
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      // A lock left by a killed writer is stale after 30 s (writing takes well under one).
      if (Date.now() - statSync(lock).mtimeMs > 30_000) rmSync(lock, { force: true });
      if (i > 600) throw new ConfigError(`${lock} is held by another costline process`);
      await sleep(50);
    }
  }
  try {
    return fn();
  } finally {
    rmSync(lock, { force: true });
  }
}

/** Reads, changes and writes back the credentials, then renders the server configuration from them. */
async function update(home: string, prefix: string, change: (file: NatsCredentialsFile) => void): Promise<NatsCredentialsFile> {
  const paths = natsAuthPaths(home);
  ensureDir(paths.dir);
  return withLock(paths.dir, () => {
    const file = readNatsCredentials(home) ?? {
      version: 1 as const,
      pipeline: newRoleUser(),
      operator: newRoleUser(),
      publisher: newRoleUser(),
      producers: {},
    };
    for (const role of Object.keys(builtinUsers) as BuiltinRole[]) file[role] = atCurrentCost(file[role]);
    change(file);
    writePrivate(paths.credentials, `${JSON.stringify(file, null, 2)}\n`);
    writePrivate(paths.serverConfig, renderServerConfig(file, prefix));
    return file;
  });
}

/** Creates the users on the first start (reusing them later) and writes the server configuration; returns its path. */
export async function ensureNatsAuth(home: string, prefix: string): Promise<{ file: NatsCredentialsFile; serverConfig: string }> {
  const file = await update(home, prefix, () => undefined);
  return { file, serverConfig: natsAuthPaths(home).serverConfig };
}

/** A new producer user for `tenant`; the password is returned once and only its hash is kept. */
export async function addProducer(home: string, prefix: string, tenant: string): Promise<{ user: string; password: string }> {
  const user = `producer-${subjectToken(tenant)}-${randomBytes(4).toString("hex")}`;
  const password = newPassword();
  const hash = hashPassword(password);
  await update(home, prefix, (file) => {
    file.producers[user] = { tenant, hash, created_at: new Date().toISOString() };
  });
  return { user, password };
}

/** Removes a producer user; false when there is none of that name. */
export async function removeProducer(home: string, prefix: string, user: string): Promise<boolean> {
  let found = false;
  await update(home, prefix, (file) => {
    found = user in file.producers;
    delete file.producers[user];
  });
  return found;
}

/** One user entry of a nats-server configuration (JSON is valid nats-server syntax). */
export function userEntry(user: string, hash: string, permissions: Permissions): string {
  return JSON.stringify({ user, password: hash, permissions });
}

export function renderServerConfig(file: NatsCredentialsFile, prefix: string): string {
  const users = [
    userEntry(builtinUsers.pipeline, file.pipeline.hash, pipelinePermissions(prefix, builtinUsers.pipeline)),
    userEntry(builtinUsers.operator, file.operator.hash, operatorPermissions(prefix, builtinUsers.operator)),
    userEntry(builtinUsers.publisher, file.publisher.hash, publisherPermissions(prefix, builtinUsers.publisher)),
    ...Object.entries(file.producers).map(([user, p]) => userEntry(user, p.hash, producerPermissions(prefix, p.tenant, user))),
  ];
  return [
    "# Written by costline from credentials.json in this directory; edits are overwritten.",
    "# Passwords are bcrypt hashes. Anonymous connections are refused: every user is named here.",
    "accounts {",
    `  ${natsAccount}: {`,
    "    jetstream: enabled",
    "    users: [",
    ...users.map((u, i) => `      ${u}${i < users.length - 1 ? "," : ""}`),
    "    ]",
    "  }",
    "}",
    "",
  ].join("\n");
}
