// `costline up` and `costline run`: start stages, write stack.json, print
// where to look, stop cleanly on SIGTERM/SIGINT.
import path from "node:path";
import type { Config } from "../config/config.ts";
import { CostlineError } from "../errors.ts";
import { createLogger } from "../observability/log.ts";
import { asNatsUser, connectNats, redactUrlCredentials } from "../nats/connect.ts";
import { createProducer } from "../producer/producer.ts";
import { newDemoStats, runDemoTraffic, type DemoStats } from "../demo/traffic.ts";
import { createGuard, type Guard } from "../guard/guard.ts";
import { startClickHouseHttp } from "../clickhouse/http-endpoint.ts";
import { ensureHttpWriter, httpWriterFile } from "../clickhouse/http-writer.ts";
import { joinLocalStack } from "../stack/join-stack.ts";
import { createKeyStore } from "../api/api-keys.ts";
import { queryRows } from "../clickhouse/client.ts";
import { findLiveStack, readStackFile, removeStackFile, writeStackFile } from "../stack/stack-file.ts";
import type { ClickHouseClient } from "@clickhouse/client";
import type { NatsConnection } from "@nats-io/nats-core";
import { stageNames, startPipeline, type StageName } from "../stack/pipeline.ts";

export async function runUp(config: Config, opts: { demo: boolean }): Promise<void> {
  const live = findLiveStack(config.stackFile);
  if (live) throw new CostlineError(`a stack is already running from ${config.home} (pid ${live.pid}, API ${live.api_url}); stop it first`);
  // A stack.json left behind names a process that is gone (a crash, a SIGKILL): its partition leases are ours at once.
  const previous = readStackFile(config.stackFile)?.instance_id;
  const logFile = path.join(config.home, "logs", "costline.log");
  const log = createLogger(config.logLevel, logFile);
  const pipeline = await startPipeline(config, { stages: stageNames, log, takeOverFrom: previous ? [previous] : [] });
  const clickhouse = pipeline.clickhouse!; // the API's process always opens it
  const chHttp =
    config.clickhouse.httpPort !== undefined && clickhouse.mode === "embedded"
      ? await startClickHouseHttp({
          client: clickhouse.client,
          keys: createKeyStore(clickhouse.client),
          // Other costline processes (`costline run` with CLICKHOUSE_URL) write on a connection of their own.
          writer: ensureHttpWriter(config.home),
          writerClient: clickhouse.analyticsLanes(config.queries.connections + 1).at(-1),
          host: config.api.host,
          port: config.clickhouse.httpPort,
          limits: config.queries.limits,
          log: log.child({ stage: "clickhouse-http" }),
        })
      : undefined;
  if (config.clickhouse.httpPort !== undefined && !chHttp)
    log.warn("COSTLINE_CLICKHOUSE_HTTP_PORT applies to the embedded engine only; with CLICKHOUSE_URL, point clients at that server");
  writeStackFile(config.stackFile, {
    pid: process.pid,
    // Without user:password@: other commands bring their own NATS_USER / NATS_PASSWORD.
    nats_url: redactUrlCredentials(pipeline.natsUrl),
    api_url: pipeline.apiUrl,
    nats_user: pipeline.publisher?.user,
    nats_password: pipeline.publisher?.password,
    nats_pid: pipeline.natsPid,
    clickhouse: clickhouse.mode === "embedded" ? config.clickhouse.dataDir : redactUrlCredentials(config.clickhouse.url ?? ""),
    ...(chHttp ? { clickhouse_url: chHttp.url } : {}),
    started_at: new Date().toISOString(),
    instance_id: pipeline.instanceId,
  });
  const demo = new AbortController();
  const demoStats = newDemoStats();
  let demoNc: NatsConnection | undefined;
  let demoGuard: Guard | undefined;
  if (opts.demo) {
    // Demo traffic comes in as producers' does: on the embedded server, as the all-tenants producer.
    const nc = pipeline.publisher
      ? await connectNats(
          { ...asNatsUser(config.nats, pipeline.publisher.user, pipeline.publisher.password), url: pipeline.natsUrl },
          "costline-demo",
        )
      : pipeline.nc;
    if (nc !== pipeline.nc) demoNc = nc;
    const producer = await createProducer({ nc, subjectPrefix: config.subjects.prefix });
    // The demo obeys the controls like any producer: it asks the guard before each simulated call.
    demoGuard = await createGuard({ nc, onInvalid: (key, reason) => log.warn({ key, reason }, "demo guard ignored an invalid control") });
    await demoGuard.ready;
    void runDemoTraffic(
      (events) => producer.publish(events),
      config.demo.rate,
      demo.signal,
      (err) => log.warn({ err }, "demo publish failed"),
      { guard: demoGuard, stats: demoStats },
    );
  }
  const out = process.stdout;
  out.write(
    [
      "costline is up.",
      `  NATS        ${redactUrlCredentials(pipeline.natsUrl)}${pipeline.natsPid ? " (embedded)" : ""}`,
      `  ClickHouse  ${clickhouse.mode === "embedded" ? `embedded, ${config.clickhouse.dataDir}` : redactUrlCredentials(config.clickhouse.url ?? "")}`,
      `  console     ${pipeline.apiUrl}/  (sign in with an API key)`,
      `  API         ${pipeline.apiUrl}  (/healthz /readyz /metrics, /v1/… with an API key)`,
      chHttp ? `  ClickHouse HTTP ${chHttp.url}  (Grafana: any user, an admin API key as password; read-only)` : "",
      chHttp
        ? `  join        NATS_URL=${redactUrlCredentials(pipeline.natsUrl)} CLICKHOUSE_URL=${chHttp.url} npx costline run STAGE…  (writer: ${httpWriterFile(config.home)})`
        : "",
      pipeline.opsUrl ? `  probes      ${pipeline.opsUrl}  (/healthz /readyz /metrics, COSTLINE_METRICS_PORT)` : "",
      pipeline.adminKeyFile ? `  admin key   ${pipeline.adminKeyFile}  (the CLI on this machine uses it)` : "",
      `  logs        ${logFile}`,
      `  try         npx costline totals   |   npx costline sql "SELECT tenant, toString(sum(cost_usd)) AS usd FROM costline.ledger GROUP BY tenant"`,
      opts.demo ? `  demo        ${config.demo.rate} events/s of multi-tenant traffic` : "",
      "Ctrl-C stops it cleanly.",
      "",
    ]
      .filter((l) => l !== "")
      .join("\n") + "\n",
  );
  const status = setInterval(() => void printStatus(clickhouse.client, opts.demo ? demoStats : undefined), 5000);
  const failure = await waitForStop(pipeline.failed);
  clearInterval(status);
  if (failure) process.stderr.write(`costline: ${failure.message}; stopping\n`);
  out.write("stopping: draining stages, flushing the ledger…\n");
  demo.abort();
  await demoGuard?.close();
  await chHttp?.close();
  await demoNc?.close().catch(() => undefined);
  await pipeline.stop();
  removeStackFile(config.stackFile);
  out.write("stopped.\n");
  // A stage that gave up ends the process non-zero, so whatever supervises it starts it afresh.
  if (failure) throw failure;
}

/**
 * The status line's "in the last minute" counts what the ledger gained over
 * the last 60 s of samples, not the current minute bucket (which starts from
 * zero at every minute boundary).
 */
const statusSamples: { at: number; events: number }[] = [];

async function printStatus(client: ClickHouseClient, demo?: DemoStats): Promise<void> {
  try {
    const [row] = await queryRows<{ events: string; cost: string; unpriced: string }>(
      client,
      `SELECT sum(m.events) AS events, toString(sum(m.cost_usd)) AS cost, sum(m.unpriced_events) AS unpriced
       FROM costline.ledger_minute AS m`,
    );
    const events = Number(row?.events ?? 0);
    const now = Date.now();
    statusSamples.push({ at: now, events });
    while (statusSamples.length > 1 && statusSamples[1]!.at <= now - 60_000) statusSamples.shift();
    const oldest = statusSamples[0]!;
    const window = oldest.at <= now - 59_000 ? "in the last minute" : `in the last ${Math.max(1, Math.round((now - oldest.at) / 1000))} s`;
    process.stdout.write(
      `${new Date(now).toISOString().slice(11, 19)}  ledger: ${events} events, $${row?.cost ?? "0"} total, ` +
        `${row?.unpriced ?? 0} unpriced` +
        (statusSamples.length > 1 ? `, ${events - oldest.events} ${window}` : "") +
        (demo ? ` · demo: ${demo.sent} sent, ${demo.denied} held back by controls, ${demo.downgraded} downgraded` : "") +
        "\n",
    );
  } catch {
    // the status line is a courtesy; the logs carry errors
  }
}

/**
 * `costline run [--api] [STAGE…]`: the named stages, serving /metrics, /healthz and /readyz on
 * COSTLINE_METRICS_PORT (default: COSTLINE_API_PORT); with --api, or with no stage, the API instead.
 */
export async function runStages(given: Config, names: string[], opts: { api?: boolean } = {}): Promise<void> {
  // Joining this home's running stack: its own credentials for its own URLs.
  const { config, took } = joinLocalStack(given);
  const unknown = names.filter((n) => !(stageNames as readonly string[]).includes(n));
  if (unknown.length) throw new CostlineError(`unknown stage(s) ${unknown.join(", ")}; stages: ${stageNames.join(", ")}`);
  if (!config.nats.url || !config.clickhouse.url)
    process.stderr.write("note: NATS_URL or CLICKHOUSE_URL is not set; this process starts its own embedded part\n");
  const log = createLogger(config.logLevel);
  const pipeline = await startPipeline(config, { stages: names as StageName[], log, api: Boolean(opts.api) || names.length === 0 });
  log.info(
    { stages: names, api: pipeline.apiUrl || undefined, ops: pipeline.opsUrl, joined: took.length ? took : undefined },
    "stages running",
  );
  const failure = await waitForStop(pipeline.failed);
  if (failure) log.error({ err: failure }, "a stage gave up; stopping");
  await pipeline.stop();
  if (failure) throw failure;
}

/** Waits for SIGINT/SIGTERM, or for a stage loop that gave up (its error then). */
function waitForStop<E>(failed: Promise<E>): Promise<E | undefined> {
  return new Promise((resolve) => {
    let stopping = false;
    const done = (failure?: E) => {
      if (stopping) return;
      stopping = true;
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
      // An orderly stop gets 9 s; whatever still runs then (a query stuck in the engine) does not keep the process.
      setTimeout(() => {
        process.stderr.write("costline: shutdown took longer than 9 s; exiting\n");
        process.exit(1);
      }, 9000).unref();
      resolve(failure);
    };
    const onSignal = () => done();
    process.once("SIGINT", onSignal);
    process.once("SIGTERM", onSignal);
    void failed.then(done);
  });
}
