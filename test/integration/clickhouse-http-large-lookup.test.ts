// A `costline run` joined with CLICKHOUSE_URL checks a whole batch's event ids
// against the ledger in one lookup, the ids bound as a `param_ids` URL
// parameter. Behind a backlog (after a kill) a batch holds thousands of
// events; the embedded engine's HTTP endpoint must take such a request line as
// ClickHouse does (up to 1 MiB), not refuse it with a bare 431 that the client
// reports as an empty error — which left a partition's ledger retrying until
// its messages went to the DLQ in the cluster chaos run.
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { createClient, type ClickHouseClient } from "@clickhouse/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createKeyStore } from "../../pipeline/api/api-keys.ts";
import { openClickHouse, type Ledgerbase } from "../../pipeline/clickhouse/client.ts";
import { startClickHouseHttp } from "../../pipeline/clickhouse/http-endpoint.ts";
import { migrate } from "../../pipeline/clickhouse/migrate.ts";
import { chTime } from "../../pipeline/ledger/ledger-row.ts";
import { createLedgerStore } from "../../pipeline/ledger/ledger-store.ts";
import type { PricedEvent } from "../../schemas/index.ts";

const home = mkdtempSync(path.join(os.tmpdir(), "costline-ch-http-lookup-"));
const writer = { user: "costline-pipeline", password: "a-writer-password-of-this-test" };
let db: Ledgerbase;
let endpoint: { url: string; close(): Promise<void> };
let client: ClickHouseClient;

beforeAll(async () => {
  db = await openClickHouse({ dataDir: path.join(home, "clickhouse") } as Parameters<typeof openClickHouse>[0]);
  await migrate(db.client);
  endpoint = await startClickHouseHttp({ client: db.client, keys: createKeyStore(db.client), writer, host: "127.0.0.1", port: 0 });
  client = createClient({ url: endpoint.url, username: writer.user, password: writer.password, request_timeout: 60_000 });
}, 120_000);

afterAll(async () => {
  await client?.close();
  await endpoint?.close();
  await db?.close();
  rmSync(home, { recursive: true, force: true });
});

describe("the embedded engine's HTTP endpoint, as a joined ledger sink uses it", () => {
  it("answers a stored-id lookup of 3,000 events (a request line of about 100 KB)", async () => {
    const time = new Date().toISOString();
    const events = Array.from(
      { length: 3000 },
      (_, i) => ({ tenant: "umbrella corp/é", source: "test/http-lookup", event_id: `cc-0123abcd-${100_000 + i}`, time }) as PricedEvent,
    );
    const stored = events.filter((_, i) => i % 7 === 0);
    await db.client.insert({
      table: "costline.ledger",
      format: "JSONEachRow",
      values: stored.map((e) => ({
        event_id: e.event_id,
        source: e.source,
        type: "costline.cost",
        kind: "cost",
        time: chTime(time),
        tenant: e.tenant,
        cost_usd: "0.010000",
      })),
    });
    const found = await createLedgerStore(client, 30).existingKeys(events);
    expect(found.size).toBe(stored.length);
    expect([...found].sort()).toEqual(stored.map((e) => `${e.tenant}\u0000${e.source}\u0000${e.event_id}`).sort());
  }, 120_000);
});
