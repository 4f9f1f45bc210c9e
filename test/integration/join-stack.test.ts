// The embedded engine, shared: `costline up` with COSTLINE_CLICKHOUSE_HTTP_PORT=0
// serves ClickHouse's HTTP interface on a free port and names it in
// stack.json; @clickhouse/client works against it (parameters, settings,
// formats, inserts, basic auth, a reader and a writer); and a second process,
// `NATS_URL=… CLICKHOUSE_URL=… costline run enrich ledger`, joins the stack
// as more instances of those stages — the production code path over HTTP —
// with the ledger exact.
import { createClient, type ClickHouseClient } from "@clickhouse/client";
import { jetstream } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { readFileSync, statSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { httpWriterFile } from "../../pipeline/clickhouse/http-writer.ts";
import { loadConfig } from "../../pipeline/config/config.ts";
import { joinLocalStack } from "../../pipeline/stack/join-stack.ts";
import { amountFor, costEvent, expectedTotals } from "../helpers/events.ts";
import { startRun, runLog, type RunProcess } from "../helpers/run-process.ts";
import { connectStack } from "../helpers/stack-nats.ts";
import { startStack, tempHome, waitFor, type StackProcess } from "../helpers/stack-process.ts";

const home = tempHome("costline-join-");
let stack: StackProcess;
let writer: ClickHouseClient;
let reader: ClickHouseClient;
let second: RunProcess | undefined;
let nc: NatsConnection;

beforeAll(async () => {
  stack = await startStack(home, { COSTLINE_CLICKHOUSE_HTTP_PORT: "0" });
  const w = JSON.parse(readFileSync(httpWriterFile(home), "utf8")) as { user: string; password: string };
  writer = createClient({ url: stack.info.clickhouse_url!, username: w.user, password: w.password, request_timeout: 60_000 });
  reader = createClient({ url: stack.info.clickhouse_url!, username: "grafana", password: stack.adminKey, request_timeout: 60_000 });
  nc = await connectStack(stack, "publisher");
});

afterAll(async () => {
  await nc?.close().catch(() => undefined);
  await writer?.close();
  await reader?.close();
  await second?.stop();
  await stack?.stop();
});

describe("the embedded engine over ClickHouse's HTTP interface", () => {
  it("is served on a free port (0) named in stack.json, and the writer's password is the stack's own file", () => {
    const url = new URL(stack.info.clickhouse_url!);
    expect(url.hostname).toBe("127.0.0.1");
    expect(Number(url.port)).toBeGreaterThan(0);
    expect(statSync(httpWriterFile(home)).mode & 0o777).toBe(0o600);
  });

  it("takes basic auth: a wrong password is refused, a reader cannot write, the writer can", async () => {
    const wrong = createClient({ url: stack.info.clickhouse_url!, username: "costline-pipeline", password: "wrong-password-123456" });
    await expect(wrong.query({ query: "SELECT 1", format: "JSONEachRow" })).rejects.toThrow(/Authentication failed/);
    await wrong.close();
    await expect(reader.command({ query: "CREATE DATABASE scratch" })).rejects.toThrow(/read-only/);
    await writer.command({ query: "CREATE DATABASE IF NOT EXISTS scratch" });
    await writer.command({
      query: "CREATE TABLE IF NOT EXISTS scratch.t (id String, tags Array(String), usd Decimal(38, 12)) ENGINE = MergeTree ORDER BY id",
    });
    await expect(reader.insert({ table: "scratch.t", values: [{ id: "x", tags: [], usd: "1" }], format: "JSONEachRow" })).rejects.toThrow();
  });

  it("inserts rows sent as the body, binds parameters of every kind, and keeps Decimals exact", async () => {
    const rows = [
      { id: "o'hara\ttab", tags: ["a", "b'c"], usd: "0.000000000001" },
      { id: "plain", tags: [], usd: "12345678901234567890.123456789012" },
    ];
    await writer.insert({ table: "scratch.t", values: rows, format: "JSONEachRow" });
    const bound = await writer.query({
      query: "SELECT id, toString(usd) AS usd FROM scratch.t WHERE id = {id:String} OR hasAny(tags, {tags:Array(String)}) ORDER BY id",
      query_params: { id: "plain", tags: ["b'c"] },
      format: "JSONEachRow",
    });
    // ORDER BY id: the two rows in a known order.
    expect(await bound.json()).toEqual([
      { id: "o'hara\ttab", usd: "0.000000000001" },
      { id: "plain", usd: "12345678901234567890.123456789012" },
    ]);
    // A reader reads costline's tables only.
    await expect(reader.query({ query: "SELECT toString(sum(usd)) AS s FROM scratch.t", format: "JSONEachRow" })).rejects.toThrow(
      /read-only/,
    );
    // INSERT … SELECT with a bound parameter (the ledger's rollup repair does this), data rows never touched by binding.
    await writer.command({
      query: "INSERT INTO scratch.t SELECT concat(id, '-copy'), tags, usd FROM scratch.t WHERE id = {id:String}",
      query_params: { id: "plain" },
    });
    await writer.insert({ table: "scratch.t", values: [{ id: "{id:String}", tags: [], usd: "0" }], format: "JSONEachRow" });
    const ids = await writer.query({ query: "SELECT id FROM scratch.t ORDER BY id", format: "JSONEachRow" });
    // ORDER BY id: byte order.
    expect((await ids.json<{ id: string }>()).map((r) => r.id)).toEqual(["o'hara\ttab", "plain", "plain-copy", "{id:String}"]);
    await writer.command({ query: "DELETE FROM scratch.t WHERE id IN ('plain-copy', '{id:String}')" });
    const viaWriter = await writer.query({ query: "SELECT toString(sum(usd)) AS s FROM scratch.t", format: "JSONEachRow" });
    expect(await viaWriter.json()).toEqual([{ s: "12345678901234567890.123456789013" }]);
  });

  it("answers in the format asked for, and applies settings given as URL parameters", async () => {
    const csv = await reader.query({ query: "SELECT 1 AS a, 'x' AS b", format: "CSVWithNames" });
    expect(await csv.text()).toBe('"a","b"\n1,"x"\n');
    const tsv = await (await reader.query({ query: "SELECT 2 AS n", format: "TabSeparatedWithNames" })).text();
    expect(tsv).toBe("n\n2\n");
    const quoted = async (c: ClickHouseClient, settings: Record<string, number>) =>
      (
        await (
          await c.query({ query: "SELECT toUInt64(7) AS n", format: "JSONEachRow", clickhouse_settings: settings })
        ).json<{ n: unknown }>()
      )[0]!.n;
    expect(await quoted(reader, { output_format_json_quote_64bit_integers: 1 })).toBe("7");
    expect(await quoted(reader, { output_format_json_quote_64bit_integers: 0 })).toBe(7);
    expect(await quoted(writer, { output_format_json_quote_64bit_integers: 1 })).toBe("7");
    // A per-query setting, not a session one: the next query without it is as before.
    expect(await quoted(writer, {})).toBe(7);
    expect(await quoted(reader, {})).toBe(7);
    // A setting the engine does not know is its error, returned as ClickHouse returns it.
    await expect(
      writer.query({ query: "SELECT 1", format: "JSONEachRow", clickhouse_settings: { no_such_setting_xyz: 1 } as never }),
    ).rejects.toThrow(/no_such_setting_xyz/);
  });
});

describe("a second costline process joining the stack", () => {
  it("runs enrich and ledger as more instances with NATS_URL and CLICKHOUSE_URL only, and the ledger stays exact", async () => {
    second = await startRun(
      ["enrich", "ledger"],
      { COSTLINE_HOME: home, NATS_URL: stack.info.nats_url, CLICKHOUSE_URL: stack.info.clickhouse_url! },
      { logFile: runLog(home, "second") },
    );
    expect(second.output()).toMatch(/"joined":\["nats","clickhouse"\]/);
    // The ledger is partitioned: the joiner works once it holds partition leases (a new member waits for its share).
    await waitFor(
      "the second process to hold ledger partitions",
      async () => {
        const text = await (await fetch(`${second!.opsUrl}/metrics`)).text();
        const owned = /^costline_partitions_owned\{group="ledger"\} (\S+)$/m.exec(text);
        return owned && Number(owned[1]) > 0 ? true : undefined;
      },
      90_000,
    ).catch((err: Error) => {
      // What both processes said about the ledger's leases, for a failure seen only once.
      const lines = [readFileSync(path.join(home, "logs", "costline.log"), "utf8"), second!.output()]
        .flatMap((log) => log.split("\n"))
        .filter((l) => /"group":"ledger"/.test(l) || /lease/i.test(l));
      throw new Error(`${err.message}\nlease log lines:\n${lines.slice(-60).join("\n")}`);
    });
    const js = jetstream(nc);
    // Sixteen tenants, so every partition (and so both processes' ledgers) gets some.
    const tenants = Array.from({ length: 16 }, (_, i) => `join-${i}`);
    const events = Array.from({ length: 3000 }, (_, i) => costEvent(i, tenants[i % tenants.length]!, amountFor(i), "test/join"));
    // Small one-tenant messages over a few seconds, so both processes' pull requests get some.
    for (let i = 0; i < events.length; i += 10) {
      const byTenant = new Map<string, typeof events>();
      for (const e of events.slice(i, i + 10)) byTenant.set(e.data.tenant, [...(byTenant.get(e.data.tenant) ?? []), e]);
      for (const [tenant, batch] of byTenant)
        await js.publish(`costline.events.${tenant}`, JSON.stringify(batch), { msgID: `join-${i}-${tenant}` });
      if (i % 200 === 0) await new Promise((r) => setTimeout(r, 50));
    }
    const expected = expectedTotals(events);
    await waitFor(
      "every event in the ledger",
      async () => {
        const [row] = await stack.sql<{ n: string }>("SELECT count() AS n FROM costline.ledger FINAL WHERE source = 'test/join'");
        return Number(row?.n) >= events.length ? true : undefined;
      },
      120_000,
    );
    const rows = await stack.sql<{ tenant: string; n: string; usd: string }>(
      "SELECT tenant, count() AS n, toString(sum(cost_usd)) AS usd FROM costline.ledger WHERE source = 'test/join' GROUP BY tenant ORDER BY tenant",
    );
    expect(rows.map((r) => ({ tenant: r.tenant, events: Number(r.n), cost: r.usd }))).toEqual(
      [...tenants]
        .sort()
        .map((t) => ({ tenant: t, events: expected.get(t)!.events, cost: expected.get(t)!.cost.replace(/^(\d+)$/, "$1") })),
    );
    // The second process did part of the work, through the HTTP endpoint.
    expect(await second.stageMessages("ledger")).toBeGreaterThan(0);
    expect(await second.stageMessages("enrich")).toBeGreaterThan(0);
    expect(await second.stop()).toBe(0);
    second = undefined;
  });

  it("takes the stack's credentials only for the stack's own URLs", () => {
    const join = (env: Record<string, string>) => joinLocalStack(loadConfig({ COSTLINE_HOME: home, ...env }));
    const own = join({ NATS_URL: stack.info.nats_url, CLICKHOUSE_URL: stack.info.clickhouse_url! });
    expect(own.took).toEqual(["nats", "clickhouse"]);
    expect(own.config.nats.user).toBe("costline-pipeline");
    expect(own.config.metrics.port).toBe(0);
    const other = join({ NATS_URL: "nats://127.0.0.1:1", CLICKHOUSE_URL: "http://127.0.0.1:1" });
    expect(other.took).toEqual([]);
    expect([other.config.nats.user, other.config.clickhouse.user, other.config.clickhouse.password]).toEqual([
      undefined,
      undefined,
      undefined,
    ]);
    // Credentials given are never replaced.
    const given = join({
      NATS_URL: stack.info.nats_url,
      NATS_USER: "someone",
      NATS_PASSWORD: "pw",
      CLICKHOUSE_URL: stack.info.clickhouse_url!,
    });
    expect(given.took).toEqual(["clickhouse"]);
    expect(given.config.nats.user).toBe("someone");
  });
});
