// Wires the stages of one process: NATS (embedded or configured), topology,
// ClickHouse (embedded or server) with migrations, the chosen stages on the
// shared runner, and the API. Shutdown runs in order: stop consuming, flush
// and ack, close the API and ClickHouse, drain NATS, stop the embedded server.
import path from "node:path";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import type { Config } from "../config/config.ts";
import { openClickHouse, type Ledgerbase } from "../clickhouse/client.ts";
import { migrate } from "../clickhouse/migrate.ts";
import { createApi, startApi } from "../api/server.ts";
import { ensureAdminKey } from "../api/admin-key.ts";
import { createKeyStore } from "../api/api-keys.ts";
import { ConfigError } from "../errors.ts";
import { connectNats } from "../nats/connect.ts";
import { startEmbeddedNats, type EmbeddedNats } from "../nats/embedded-server.ts";
import { createSubjects, kvBuckets } from "../nats/subjects.ts";
import { Kvm } from "@nats-io/kv";
import { createControlStore } from "../guard/control-store.ts";
import { startConsumerWatch } from "../health/consumer-watch.ts";
import { createHealth } from "../health/health.ts";
import { createBudgetStore } from "../budgets/budget-store.ts";
import { applyTopology, pipelineConsumers, streamSpecs } from "../nats/topology.ts";
import { notifyBuckets } from "../notify/kv-buckets.ts";
import { createSilenceStore } from "../notify/silences.ts";
import type { Logger } from "../observability/log.ts";
import { createMetrics } from "../observability/metrics.ts";
import type { RunningStage } from "../runner/consumer-runner.ts";
import { stageNames, stageRegistry, type StageName } from "./stage-registry.ts";

export { stageNames, type StageName };

export interface Pipeline {
  natsUrl: string;
  apiUrl: string;
  natsPid: number | null;
  /** Where the embedded default keeps its admin API key (absent when COSTLINE_ADMIN_KEY is set). */
  adminKeyFile?: string;
  nc: NatsConnection;
  clickhouse: Ledgerbase;
  stages: RunningStage[];
  stop(): Promise<void>;
}

export interface PipelineOptions {
  stages: readonly StageName[];
  log: Logger;
  /** Start the API (default true). */
  api?: boolean;
}

export async function startPipeline(config: Config, opts: PipelineOptions): Promise<Pipeline> {
  const { log } = opts;
  for (const s of opts.stages) if (!stageNames.includes(s)) throw new ConfigError(`unknown stage "${s}" (stages: ${stageNames.join(", ")})`);
  const cleanup: (() => Promise<void>)[] = [];
  const unwind = async () => {
    for (const fn of cleanup.reverse()) await fn().catch((err) => log.error({ err }, "shutdown step failed"));
  };
  try {
    let embedded: EmbeddedNats | undefined;
    let natsUrl = config.nats.url;
    if (!natsUrl) {
      embedded = await startEmbeddedNats({
        bin: config.nats.serverBin,
        storeDir: config.nats.storeDir,
        logFile: path.join(config.home, "logs", "nats-server.log"),
      });
      natsUrl = embedded.url;
      cleanup.push(() => embedded!.stop());
      log.info({ url: natsUrl, pid: embedded.pid }, "embedded nats-server started");
    }
    const nc = await connectNats({ ...config.nats, url: natsUrl }, "costline-pipeline");
    cleanup.push(async () => {
      await nc.drain().catch(() => nc.close());
    });
    const jsm = await jetstreamManager(nc);
    await applyTopology(nc, jsm, config);
    const js = jetstream(nc);

    const clickhouse = await openClickHouse(config.clickhouse);
    cleanup.push(() => clickhouse.close());
    const applied = await migrate(clickhouse.client);
    log.info({ mode: clickhouse.mode, applied }, "ClickHouse ready");

    const metrics = createMetrics();
    const subjects = createSubjects(config.subjects.prefix);
    const abort = new AbortController();
    const stages: RunningStage[] = [];
    for (const name of opts.stages) {
      const ctx = { config, nc, js, subjects, clickhouse: clickhouse.client, metrics, log: log.child({ stage: name }), signal: abort.signal };
      stages.push(...(await stageRegistry[name](ctx)));
    }
    cleanup.push(async () => {
      abort.abort();
      await Promise.allSettled(stages.map((s) => s.done));
    });
    for (const s of stages) s.done.catch((err) => log.error({ err, stage: s.name }, "stage failed"));

    let apiUrl = "";
    let adminKeyFile: string | undefined;
    if (opts.api !== false) {
      const watch = startConsumerWatch({
        jsm,
        consumers: pipelineConsumers,
        metrics,
        log: log.child({ stage: "health" }),
        intervalMs: config.health.pollMs,
        lagMessages: config.health.lagMessages,
        stallS: config.health.stallS,
        dlqPrefix: `${config.subjects.prefix}.dlq`,
      });
      cleanup.push(async () => watch.stop());
      const health = createHealth({ nc, jsm, clickhouse: clickhouse.client, streams: streamSpecs(config).map((x) => x.name), consumers: watch, metrics, timeoutMs: 2000 });
      const keys = createKeyStore(clickhouse.client);
      adminKeyFile = (await ensureAdminKey(keys, config.home, config.api.adminKey)).file;
      const kvm = new Kvm(nc);
      const controls = createControlStore({ controls: await kvm.open(kvBuckets.controls), client: clickhouse.client });
      const budgets = createBudgetStore({ kv: await kvm.open(kvBuckets.budgets), client: clickhouse.client });
      const silences = createSilenceStore(await kvm.open(notifyBuckets.silences));
      const app = createApi({ clickhouse: clickhouse.client, metrics, keys, controls, budgets, silences, targetCostPerPost: config.api.targetCostPerPost, maxBodyBytes: config.api.maxBodyBytes, log: log.child({ stage: "api" }), metricsToken: config.api.metricsToken, health: health.check });
      const api = await startApi(app, config.api.host, config.api.port);
      apiUrl = api.url;
      cleanup.push(() => api.close());
      log.info({ url: apiUrl }, "API listening");
    }
    let stopped: Promise<void> | undefined;
    return {
      natsUrl,
      apiUrl,
      natsPid: embedded?.pid ?? null,
      adminKeyFile,
      nc,
      clickhouse,
      stages,
      stop: () => (stopped ??= unwind()),
    };
  } catch (err) {
    await unwind();
    throw err;
  }
}
