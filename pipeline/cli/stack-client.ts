// How a command reaches the ledger: through the API of a running stack (the
// embedded engine admits one process), else ClickHouse directly.
import type { Config } from "../config/config.ts";
import { openClickHouse, type Ledgerbase } from "../clickhouse/client.ts";
import { findLiveStack } from "../stack/stack-file.ts";
import { StackNotFoundError } from "../errors.ts";

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

export async function apiCall(url: string, init?: RequestInit): Promise<Response> {
  try {
    return await fetch(url, init);
  } catch (err) {
    throw new StackNotFoundError(`the stack's API at ${new URL(url).origin} does not answer (${(err as Error).message})`);
  }
}
