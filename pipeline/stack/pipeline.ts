// Wires the stages of one process: NATS (embedded or configured), topology,
// ClickHouse (embedded or server) with migrations, the chosen stages on the
// shared runner, health and metrics, and the API — or, in a process that runs
// stages without the API, /metrics, /healthz and /readyz on a port of their
// own. Shutdown runs in order: stop consuming, flush and ack, close the HTTP
// listeners and ClickHouse, drain NATS, stop the embedded server.
import path from "node:path";
import { setMaxListeners } from "node:events";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import type { ClickHouseClient } from "@clickhouse/client";
import type { Config } from "../config/config.ts";
import { createAnalytics } from "../queries/analytics.ts";
import { openClickHouse, type Ledgerbase } from "../clickhouse/client.ts";
import { migrate } from "../clickhouse/migrate.ts";
import { createApi, startApi } from "../api/server.ts";
import { createProducer } from "../producer/producer.ts";
import { publishInBatches } from "../otlp/publish-batches.ts";
import { ensureAdminKey } from "../api/admin-key.ts";
import { createKeyStore } from "../api/api-keys.ts";
import { ConfigError } from "../errors.ts";
import { asNatsUser, connectNats } from "../nats/connect.ts";
import { moveGlobalAccountStore, startEmbeddedNats, type EmbeddedNats } from "../nats/embedded-server.ts";
import { builtinUsers, ensureNatsAuth, natsAccount } from "../nats/credentials.ts";
import { createSubjects, kvBuckets } from "../nats/subjects.ts";
import { Kvm } from "@nats-io/kv";
import { createControlStore } from "../guard/control-store.ts";
import { createConsumerWatch } from "../health/consumer-watch.ts";
import { createHealth, startHealthMonitor } from "../health/health.ts";
import { judgeLoop } from "../health/loop-checks.ts";
import { startOpsServer } from "../health/ops-routes.ts";
import { timeClickHouseInserts } from "../observability/clickhouse-timing.ts";
import { createBudgetStore } from "../budgets/budget-store.ts";
import { createCounterClient } from "../budgets/reservation-counter.ts";
import { applyTopology, pipelineConsumersFor, streamSpecs } from "../nats/topology.ts";
import { notifyBuckets } from "../notify/kv-buckets.ts";
import { createSilenceStore } from "../notify/silences.ts";
import type { Logger } from "../observability/log.ts";
import { createMetrics } from "../observability/metrics.ts";
import type { RunningStage } from "../runner/consumer-runner.ts";
import { createSupervisor, type StageFailedError } from "../runner/supervisor.ts";
import { stageNames, stageRegistry, type StageName } from "./stage-registry.ts";
import { createPricedDecoder } from "../ledger/priced-decoder.ts";
import { createLocalPriced } from "../enrich/local-priced.ts";
import { defaultInstanceId } from "../leases/lease-manager.ts";

export { stageNames, type StageName };

export interface Pipeline {
  natsUrl: string;
  /** The API's address ("" when this process does not serve it). */
  apiUrl: string;
  /** Where /metrics, /healthz and /readyz are served apart from the API (absent when only the API serves them). */
  opsUrl?: string;
  natsPid: number | null;
  /** This process's name in the partition leases (COSTLINE_INSTANCE_ID, else host, pid and a random suffix). */
  instanceId: string;
  /** The embedded server's all-tenants producer (for stack.json and the demo); absent with NATS_URL. */
  publisher?: { user: string; password: string };
  /** The connection of the API's writes: the operator role on the embedded server, else `nc`. */
  operatorNc: NatsConnection;
  /** Where the embedded default keeps its admin API key (absent when COSTLINE_ADMIN_KEY is set). */
  adminKeyFile?: string;
  nc: NatsConnection;
  /** Absent in a process whose stages never touch ClickHouse (see clickhouseFreeStages). */
  clickhouse: Ledgerbase | undefined;
  stages: RunningStage[];
  /**
   * Resolves when a stage loop gave up (runner/supervisor.ts): the process
   * cannot go on, and should stop and exit non-zero.
   */
  failed: Promise<StageFailedError>;
  stop(): Promise<void>;
}

export interface PipelineOptions {
  stages: readonly StageName[];
  log: Logger;
  /** Start the API (default true). Without it, the ops routes get a listener of their own. */
  api?: boolean;
  /**
   * Instance ids of this process's earlier lives that are known to have stopped: their partition
   * leases are taken over at once, not after the lease TTL (`costline up` passes its stale stack.json's).
   */
  takeOverFrom?: readonly string[];
}

/**
 * Stages that never read or write ClickHouse: a process running only these
 * (and not the API) neither opens nor migrates it, and its readiness does not
 * depend on it.
 */
export const clickhouseFreeStages: readonly StageName[] = ["enrich", "windower"];

/** Stands in for ClickHouse in a process that did not open it: any use is a wiring bug, said plainly. */
function clickhouseNotOpened(stages: readonly string[]): ClickHouseClient {
  return new Proxy({} as ClickHouseClient, {
    get() {
      throw new ConfigError(`ClickHouse is not opened in a process running only ${stages.join(", ")}; see clickhouseFreeStages`);
    },
  });
}

export async function startPipeline(config: Config, opts: PipelineOptions): Promise<Pipeline> {
  const { log } = opts;
  for (const s of opts.stages)
    if (!stageNames.includes(s)) throw new ConfigError(`unknown stage "${s}" (stages: ${stageNames.join(", ")})`);
  const cleanup: (() => Promise<void>)[] = [];
  const unwind = async () => {
    for (const fn of cleanup.reverse()) await fn().catch((err) => log.error({ err }, "shutdown step failed"));
  };
  try {
    let embedded: EmbeddedNats | undefined;
    let natsUrl = config.nats.url;
    let natsAs = config.nats;
    let operatorAs: Config["nats"] | undefined;
    let publisher: Pipeline["publisher"];
    if (!natsUrl) {
      // Authenticated like production: users, passwords (bcrypt in the server's file) and permissions per role.
      const auth = await ensureNatsAuth(config.home, config.subjects.prefix);
      if (moveGlobalAccountStore(config.nats.storeDir, natsAccount))
        log.info({ account: natsAccount }, "moved the NATS store into costline's account");
      embedded = await startEmbeddedNats({
        bin: config.nats.serverBin,
        storeDir: config.nats.storeDir,
        logFile: path.join(config.home, "logs", "nats-server.log"),
        configFile: auth.serverConfig,
      });
      natsUrl = embedded.url;
      cleanup.push(() => embedded!.stop());
      log.info({ url: natsUrl, pid: embedded.pid }, "embedded nats-server started");
      natsAs = asNatsUser(config.nats, builtinUsers.pipeline, auth.file.pipeline.password);
      operatorAs = asNatsUser(config.nats, builtinUsers.operator, auth.file.operator.password);
      publisher = { user: builtinUsers.publisher, password: auth.file.publisher.password };
    }
    const nc = await connectNats({ ...natsAs, url: natsUrl }, "costline-pipeline");
    cleanup.push(async () => {
      await nc.drain().catch(() => nc.close());
    });
    let operatorNc = nc;
    if (operatorAs && opts.api !== false) {
      const onc = await connectNats({ ...operatorAs, url: natsUrl }, "costline-api");
      operatorNc = onc;
      cleanup.push(async () => {
        await onc.drain().catch(() => onc.close());
      });
    }
    const jsm = await jetstreamManager(nc);
    await applyTopology(nc, jsm, config);
    const js = jetstream(nc);

    const serveApi = opts.api !== false;
    const metrics = createMetrics(config.metrics);
    let clickhouse: Ledgerbase | undefined;
    if (serveApi || opts.stages.some((s) => !clickhouseFreeStages.includes(s))) {
      const opened = await openClickHouse(config.clickhouse);
      clickhouse = opened;
      cleanup.push(() => opened.close());
      const applied = await migrate(opened.client, { cluster: config.clickhouse.cluster });
      log.info({ mode: opened.mode, applied }, "ClickHouse ready");
    }
    // Every insert through this client is timed by table (costline_clickhouse_insert_seconds).
    const client = clickhouse
      ? timeClickHouseInserts(clickhouse.client, metrics.clickhouseInsertSeconds)
      : clickhouseNotOpened(opts.stages);

    const subjects = createSubjects(config.subjects.prefix, config.partitions.count);
    const pipelineConsumers = pipelineConsumersFor(config.partitions.count);
    const abort = new AbortController();
    // Every stage and every partition loop of this process listens to this one stop signal: with the
    // default eight partitions that is more than Node's default of ten listeners, which is no leak.
    setMaxListeners(0, abort.signal);
    const stages: RunningStage[] = [];
    // Every loop of this process restarts under one policy, and shows in health.
    const supervisor = createSupervisor({ policy: config.restart, onRestart: (loop) => metrics.stageRestarts.inc({ loop }) });
    // The ledger and the windower read the same priced messages: in one process they decode each once.
    const pricedReaders = opts.stages.filter((s) => s === "ledger" || s === "windower").length;
    // With enrich here too, they take enrich's priced events as they are instead of decoding them again.
    // A message delivered under an offered sequence with other bytes means the replicas number the
    // stream differently (see local-priced.ts): said in the log, the first few times and then every 1,000th.
    const onMismatch = (msg: { subject: string; info: { streamSequence: number; stream: string } }, mismatches: number) => {
      if (mismatches <= 10 || mismatches % 1000 === 0)
        log.warn(
          { stream: msg.info.stream, seq: msg.info.streamSequence, subject: msg.subject, mismatches },
          "a priced message was delivered under the sequence of another message enrich published here (stream replicas disagree on its numbering); decoded from the message itself",
        );
    };
    const localPriced = opts.stages.includes("enrich")
      ? createLocalPriced(createPricedDecoder(pricedReaders), pricedReaders, undefined, onMismatch)
      : undefined;
    const decodePriced = localPriced?.decoder ?? createPricedDecoder(pricedReaders);
    // A stable name set by COSTLINE_INSTANCE_ID is its own earlier life when it starts again.
    const instance = {
      id: config.partitions.instanceId ?? defaultInstanceId(),
      takeOverFrom: [...(opts.takeOverFrom ?? []), ...(config.partitions.instanceId ? [config.partitions.instanceId] : [])],
    };
    for (const name of opts.stages) {
      const ctx = {
        instance,
        config,
        nc,
        js,
        subjects,
        clickhouse: client,
        metrics,
        decodePriced,
        offerPriced: localPriced?.offer,
        supervisor,
        log: log.child({ stage: name }),
        signal: abort.signal,
      };
      stages.push(...(await stageRegistry[name](ctx)));
    }
    cleanup.push(async () => {
      abort.abort();
      await Promise.allSettled(stages.map((s) => s.done));
    });
    for (const s of stages) s.done.catch((err) => log.error({ err, stage: s.name }, "stage failed"));

    // The API's process watches every consumer (the stack's view); a stage process its own.
    const watch = createConsumerWatch({
      jsm,
      consumers: serveApi
        ? pipelineConsumers
        : pipelineConsumers.filter((c) => (opts.stages as readonly string[]).includes(c.partOf ?? c.stage)),
      metrics,
      log: log.child({ stage: "health" }),
      lagMessages: config.health.lagMessages,
      stallS: config.health.stallS,
      dlqPrefix: `${config.subjects.prefix}.dlq`,
    });
    const health = createHealth({
      nc,
      jsm,
      clickhouse: clickhouse && client,
      streams: streamSpecs(config).map((x) => x.name),
      consumers: watch,
      loops: () => supervisor.states().map(judgeLoop),
      metrics,
      timeoutMs: config.health.timeoutMs,
    });
    const monitor = startHealthMonitor({ health, consumers: watch, intervalMs: config.health.pollMs, log: log.child({ stage: "health" }) });
    cleanup.push(() => monitor.stop());
    await monitor.ready;

    let apiUrl = "";
    let opsUrl: string | undefined;
    let adminKeyFile: string | undefined;
    const opsPort = serveApi ? config.metrics.port : (config.metrics.port ?? config.api.port);
    if (opsPort !== undefined) {
      const ops = await startOpsServer({ metrics, health: health.check, metricsToken: config.api.metricsToken }, config.api.host, opsPort);
      opsUrl = ops.url;
      cleanup.push(() => ops.close());
      log.info({ url: opsUrl }, "serving /metrics, /healthz and /readyz");
    }
    if (serveApi && clickhouse) {
      const keys = createKeyStore(client, config.api.keyCache.ttlMs, config.api.keyCache.size);
      // Reports and /v1/sql on their own connections, bounded; ingestion keeps `client`.
      const analytics = createAnalytics({
        lanes: clickhouse.analyticsLanes(config.queries.connections),
        control: clickhouse.client,
        limits: config.queries.limits,
        inline: clickhouse.mode === "embedded",
      });
      adminKeyFile = (await ensureAdminKey(keys, config.home, config.api.adminKey)).file;
      const kvm = new Kvm(operatorNc);
      const controls = createControlStore({ controls: await kvm.open(kvBuckets.controls), client });
      const budgets = createBudgetStore({ kv: await kvm.open(kvBuckets.budgets), client });
      const silences = createSilenceStore(await kvm.open(notifyBuckets.silences));
      const reservations = createCounterClient({ kv: await kvm.open(kvBuckets.reservations) });
      // OTLP spans become events published like any producer's, on the API's connection (the pipeline role publishes no events).
      const otlpProducer = await createProducer({ nc: operatorNc, subjectPrefix: config.subjects.prefix });
      const otlp = { attributes: config.otlp.attributes, publish: publishInBatches(otlpProducer, config.enrich.maxBatchEvents) };
      const app = createApi({
        clickhouse: client,
        metrics,
        keys,
        controls,
        budgets,
        reservations,
        silences,
        targetCostPerPost: config.api.targetCostPerPost,
        maxBodyBytes: config.api.maxBodyBytes,
        log: log.child({ stage: "api" }),
        metricsToken: config.api.metricsToken,
        health: health.check,
        analytics,
        fairness: config.api.fairness,
        otlp,
        maxExportRows: config.exports.maxRows,
        windowS: config.windows.windowS,
        pricing: config,
        reconcileDriftThreshold: config.api.reconcileDriftThreshold,
        consoleNats: { jsm, js, subjectPrefix: config.subjects.prefix, consumers: pipelineConsumers },
      });
      const api = await startApi(app, config.api.host, config.api.port);
      apiUrl = api.url;
      cleanup.push(() => api.close());
      cleanup.push(() => analytics.stop()); // runs first: kills running queries so the close does not wait on them
      log.info({ url: apiUrl }, "API listening");
    }
    let stopped: Promise<void> | undefined;
    return {
      natsUrl,
      apiUrl,
      opsUrl,
      natsPid: embedded?.pid ?? null,
      instanceId: instance.id,
      publisher,
      operatorNc,
      adminKeyFile,
      nc,
      clickhouse,
      stages,
      failed: supervisor.failed,
      stop: () => (stopped ??= unwind()),
    };
  } catch (err) {
    await unwind();
    throw err;
  }
}
