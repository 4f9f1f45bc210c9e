// Which ClickHouse errors the ledger sink takes as a refusal of the data (the
// message is dead-lettered as poison and acknowledged) and which as trouble of
// the engine (the message is retried). A joined `costline run` inserts through
// the embedded engine's HTTP endpoint; that endpoint used to answer every
// failure of the engine under one name, QUERY_FAILED, which the sink counted as
// a refusal — so an insert that failed for memory, a timeout or a cancelled
// query parked valid events in the DLQ instead of storing them on a retry.
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { ClickHouseError, createClient, type ClickHouseClient } from "@clickhouse/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createKeyStore } from "../../pipeline/api/api-keys.ts";
import { openClickHouse, queryRows, type Ledgerbase } from "../../pipeline/clickhouse/client.ts";
import { startClickHouseHttp } from "../../pipeline/clickhouse/http-endpoint.ts";
import { migrate } from "../../pipeline/clickhouse/migrate.ts";
import { createLedgerHandler } from "../../pipeline/ledger/ledger-stage.ts";
import { createLedgerStore, isRejection } from "../../pipeline/ledger/ledger-store.ts";
import { createLogger } from "../../pipeline/observability/log.ts";
import { createMetrics } from "../../pipeline/observability/metrics.ts";
import type { Delivery } from "../../pipeline/runner/consumer-runner.ts";
import type { PricedEvent } from "../../schemas/index.ts";
import { pricedCost } from "../helpers/events.ts";

const home = mkdtempSync(path.join(os.tmpdir(), "costline-ledger-refusals-"));
const writer = { user: "costline-pipeline", password: "a-writer-password-of-this-test" };
let db: Ledgerbase;
let endpoint: { url: string; close(): Promise<void> };
let client: ClickHouseClient;
/** The same writer, its statements bounded to one byte of memory: every insert fails in the engine, whatever its rows. */
let starved: ClickHouseClient;

beforeAll(async () => {
  db = await openClickHouse({ dataDir: path.join(home, "clickhouse") } as Parameters<typeof openClickHouse>[0]);
  await migrate(db.client);
  endpoint = await startClickHouseHttp({ client: db.client, keys: createKeyStore(db.client), writer, host: "127.0.0.1", port: 0 });
  client = createClient({ url: endpoint.url, username: writer.user, password: writer.password, request_timeout: 60_000 });
  starved = createClient({
    url: endpoint.url,
    username: writer.user,
    password: writer.password,
    request_timeout: 60_000,
    clickhouse_settings: { max_memory_usage: "1" },
  });
}, 120_000);

afterAll(async () => {
  await client?.close();
  await starved?.close();
  await endpoint?.close();
  await db?.close();
  rmSync(home, { recursive: true, force: true });
});

const time = new Date().toISOString();
const event = (id: string, cost: string) => pricedCost({ id, tenant: "acme", time, cost, source: "test/ledger-refusals" });
// The handler reads only the decoded events; the message is the runner's.
const delivery = (events: PricedEvent[]) => ({ msg: {}, value: events }) as unknown as Delivery<PricedEvent[]>;
const handler = (c: ClickHouseClient) =>
  createLedgerHandler({ store: createLedgerStore(c, 30), metrics: createMetrics(), log: createLogger("silent") });
const stored = async (ids: string[]) =>
  (
    await queryRows<{ event_id: string }>(db.client, "SELECT event_id FROM costline.ledger WHERE event_id IN {ids:Array(String)}", {
      ids,
    })
  ).map((r) => r.event_id);

describe("the ledger sink over the embedded engine's HTTP endpoint", () => {
  it("gets the engine's own error name, and retries an insert the engine failed for its own state", async () => {
    const err = await createLedgerStore(starved, 30)
      .insert([event("starved-0", "1.5")])
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ClickHouseError);
    expect((err as ClickHouseError).type).toBe("MEMORY_LIMIT_EXCEEDED");
    expect(isRejection(err)).toBe(false);

    const outcomes = await handler(starved)([delivery([event("starved-1", "1.5")]), delivery([event("starved-2", "2.5")])]);
    expect(outcomes.map((o) => o.kind)).toEqual(["retry", "retry"]);
    // Retried with the engine well again, the same events are stored.
    expect(
      (await handler(client)([delivery([event("starved-1", "1.5")]), delivery([event("starved-2", "2.5")])])).map((o) => o.kind),
    ).toEqual(["done", "done"]);
    expect((await stored(["starved-1", "starved-2"])).sort()).toEqual(["starved-1", "starved-2"]);
  }, 120_000);

  it("dead-letters a message whose rows the engine refuses as data, and stores its batch neighbours", async () => {
    // Past Decimal(38, 12): the engine refuses the value itself (ARGUMENT_OUT_OF_BOUND).
    const outcomes = await handler(client)([delivery([event("fine-1", "0.25")]), delivery([event("too-big", `1${"0".repeat(30)}`)])]);
    expect(outcomes[0]).toMatchObject({ kind: "done" });
    expect(outcomes[1]).toMatchObject({ kind: "dead", entry: { reason: "poison" } });
    expect(await stored(["fine-1", "too-big"])).toEqual(["fine-1"]);
  }, 120_000);
});
