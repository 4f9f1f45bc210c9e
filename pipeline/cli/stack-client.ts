// How a command reaches the ledger: through the API of a running stack (the
// embedded engine admits one process), else ClickHouse directly. How it
// reaches NATS is stack-nats.ts, apart, so a report loads no NATS code.
import type { Config } from "../config/config.ts";
import { openClickHouse, type Ledgerbase } from "../clickhouse/client.ts";
import { findLiveStack } from "../stack/stack-file.ts";
import { CostlineError, StackNotFoundError } from "../errors.ts";
import { clientKey } from "../api/admin-key.ts";
import { httpRequest, type ApiRequest, type ApiResponse } from "./http-request.ts";

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
export async function apiCall(config: Config, url: string, init: ApiRequest = {}): Promise<ApiResponse> {
  const key = clientKey(config.home, config.api.clientKey);
  const headers = { ...init.headers };
  if (key) headers.authorization = `Bearer ${key}`;
  try {
    const res = await httpRequest(url, { ...init, headers });
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
