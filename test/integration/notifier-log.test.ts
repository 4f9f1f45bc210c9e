// The delivery log on the real embedded ClickHouse: rows written by several
// callers at once go in batched inserts and each caller hears back once its
// rows are stored; the notify-* queries read them back per tenant and channel.
import { mkdtempSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openClickHouse, queryRows, type Ledgerbase } from "../../pipeline/clickhouse/client.ts";
import { migrate } from "../../pipeline/clickhouse/migrate.ts";
import { createDeliveryLog } from "../../pipeline/notify/delivery-log.ts";
import { createLogger } from "../../pipeline/observability/log.ts";
import { sqlFile } from "../../pipeline/queries/sql-files.ts";
import type { DeliveryRecord } from "../../schemas/index.ts";

let db: Ledgerbase;

beforeAll(async () => {
  db = await openClickHouse({ dataDir: path.join(mkdtempSync(path.join(os.tmpdir(), "costline-notify-log-")), "clickhouse") } as never);
  await migrate(db.client);
});
afterAll(async () => db?.close());

const record = (o: Partial<DeliveryRecord>): DeliveryRecord => ({
  attempted_at: "2026-11-22T10:00:00.000Z",
  notification_id: "n1",
  alert_id: "a1",
  fingerprint: "f1",
  tenant: "acme",
  type: "spike",
  severity: "critical",
  status: "firing",
  channel: "slack",
  channel_type: "slack",
  attempt: 1,
  result: "delivered",
  reason: "",
  http_status: 200,
  latency_ms: 640,
  ...o,
});

describe("delivery log", () => {
  it("stores batched rows once and answers the notify queries", async () => {
    const log = createDeliveryLog({ client: db.client, log: createLogger("silent"), flushMs: 20 });
    await Promise.all([
      log.write([
        record({ channel: "hook", channel_type: "webhook", result: "retried", reason: "HTTP 503", http_status: 503, latency_ms: null }),
        record({ channel: "hook", channel_type: "webhook", attempt: 2, attempted_at: "2026-11-22T10:00:00.400Z", latency_ms: 1100 }),
      ]),
      log.write([record({}), record({ channel: "pagerduty", channel_type: "pagerduty", http_status: 202, latency_ms: 700 })]),
      log.write([
        record({
          tenant: "initech",
          channel: "email",
          channel_type: "email",
          result: "failed",
          reason: "SMTP 550",
          http_status: 550,
          latency_ms: null,
        }),
      ]),
      log.write([record({ alert_id: "a2", result: "suppressed", reason: "silenced:s1", http_status: null, latency_ms: null, attempt: 0 })]),
    ]);
    await log.close();

    const range = { from: "2026-11-22 00:00:00.000", to: "2026-11-23 00:00:00.000" };
    const acme = await queryRows<{ channel: string; result: string; attempt: number; reason: string }>(
      db.client,
      sqlFile("notify-deliveries"),
      { ...range, tenant: "acme", limit: 100 },
    );
    expect(acme).toHaveLength(5);
    expect(acme[0]).toMatchObject({ channel: "hook", result: "delivered", attempt: 2 });
    expect(acme.filter((r) => r.result === "suppressed").map((r) => r.reason)).toEqual(["silenced:s1"]);

    const health = await queryRows<{
      channel: string;
      delivered: number;
      retried: number;
      failed: number;
      suppressed: number;
      p99_ms: number;
    }>(db.client, sqlFile("notify-channel-health"), range);
    expect(health.map((h) => h.channel)).toEqual(["email", "hook", "pagerduty", "slack"]);
    expect(health[0]).toMatchObject({ channel: "email", failed: 1 });
    expect(health.find((h) => h.channel === "hook")).toMatchObject({ delivered: 1, retried: 1, p99_ms: 1100 });
    expect(health.find((h) => h.channel === "slack")).toMatchObject({ delivered: 1, suppressed: 1 });
  });
});
