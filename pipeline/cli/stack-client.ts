// How a command reaches the ledger: through the API of a running stack (the
// embedded engine admits one process), else ClickHouse directly.
import type { Config } from "../config/config.ts";
import { openClickHouse, type Ledgerbase } from "../clickhouse/client.ts";
import { findLiveStack } from "../stack/stack-file.ts";
import { CostlineError, StackNotFoundError } from "../errors.ts";
import { clientKey } from "../api/admin-key.ts";
import { asNatsUser } from "../nats/connect.ts";
import { roleCredentials } from "../nats/credentials.ts";

/** Whether NATS credentials were configured (NATS_USER, NATS_TOKEN, NATS_CREDS, an nkey, or in NATS_URL). */
function hasNatsCredentials(config: Config): boolean {
  const n = config.nats;
  return Boolean(n.user || n.token || n.credsFile || n.nkeySeed || n.nkeySeedFile || (n.url && /:\/\/[^/]*@/.test(n.url)));
}

/**
 * Where and as whom a command reaches NATS: NATS_URL and the configured
 * credentials when given; else the running stack of $COSTLINE_HOME, as the
 * all-tenants producer stack.json names (`publisher`, for publishing) or as the
 * operator whose password $COSTLINE_HOME/nats-auth keeps (`operator`, for the
 * DLQ tools) — readable, like admin.key, by the stack's owner only.
 */
export function stackNats(config: Config, role: "publisher" | "operator"): Config["nats"] & { url: string } {
  const live = config.nats.url ? undefined : findLiveStack(config.stackFile);
  const url = config.nats.url ?? live?.nats_url;
  if (!url) throw new CostlineError(`no NATS_URL and no running stack in ${config.home}; start one with: npx costline up`);
  if (!live || hasNatsCredentials(config)) return { ...config.nats, url };
  if (role === "publisher" && live.nats_user && live.nats_password)
    return { ...asNatsUser(config.nats, live.nats_user, live.nats_password), url };
  const own = roleCredentials(config.home, role);
  return own ? { ...asNatsUser(config.nats, own.user, own.password), url } : { ...config.nats, url };
}

export type LedgerAccess = { kind: "api"; url: string } | { kind: "direct"; db: Ledgerbase };

export async function ledgerAccess(config: Config): Promise<LedgerAccess> {
  const live = findLiveStack(config.stackFile);
  if (live?.api_url) return { kind: "api", url: live.api_url };
  try {
    return { kind: "direct", db: await openClickHouse(config.clickhouse) };
  } catch (err) {
    throw new StackNotFoundError(
      `no running stack in ${config.home} and ClickHouse could not be opened (${(err as Error).message}); start one with: npx costline up`,
    );
  }
}

/** Calls the stack's API with the configured key (COSTLINE_API_KEY, else $COSTLINE_HOME/admin.key). */
export async function apiCall(config: Config, url: string, init: RequestInit = {}): Promise<Response> {
  const key = clientKey(config.home, config.api.clientKey);
  const headers = new Headers(init.headers);
  if (key) headers.set("authorization", `Bearer ${key}`);
  try {
    const res = await fetch(url, { ...init, headers });
    if (res.status === 401)
      throw new StackNotFoundError(
        `the API refused the key (${key ? "invalid or revoked" : "none found"}): set COSTLINE_API_KEY or run where $COSTLINE_HOME/admin.key is readable`,
      );
    return res;
  } catch (err) {
    if (err instanceof StackNotFoundError) throw err;
    throw new StackNotFoundError(`the stack's API at ${new URL(url).origin} does not answer (${(err as Error).message})`);
  }
}

/** A JSON call to the running stack's API (found through stack.json); a non-2xx answer throws with the API's error. */
export async function stackApi(config: Config, method: string, path: string, body?: unknown): Promise<unknown> {
  const live = findLiveStack(config.stackFile);
  if (!live) throw new CostlineError(`no running stack in ${config.home}; start one with: npx costline up`);
  const res = await apiCall(config, `${live.api_url}${path}`, {
    method,
    headers: body ? { "content-type": "application/json" } : {},
    body: body ? JSON.stringify(body) : undefined,
  });
  const out = (await res.json()) as { error?: string };
  if (!res.ok) throw new CostlineError(out.error ?? `HTTP ${res.status}`);
  return out;
}

/** Prints one JSON document on a line of its own. */
export function printJson(v: unknown): void {
  process.stdout.write(`${JSON.stringify(v)}\n`);
}
