// Wires the stages of one process: NATS (embedded or configured), topology,
// ClickHouse (embedded or server) with migrations, the chosen stages on the
// shared runner, and the API. Shutdown runs in order: stop consuming, flush
// and ack, close the API and ClickHouse, drain NATS, stop the embedded server.
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import type { Config } from "../config/config.ts";
import { openClickHouse, type Ledgerbase } from "../clickhouse/client.ts";
import { migrate } from "../clickhouse/migrate.ts";
import { createApi, startApi } from "../api/server.ts";
import { ensureAdminKey } from "../api/admin-key.ts";
import { createKeyStore } from "../api/api-keys.ts";
import { createEnrichHandler } from "../enrich/enrich-stage.ts";
import { ConfigError } from "../errors.ts";
import { createLedgerHandler } from "../ledger/ledger-stage.ts";
import { createAlertStoreHandler } from "../alerts/alert-store-stage.ts";
import { createUnpricedModelNotifier } from "../alerts/unpriced-model-alert.ts";
import { createLedgerStore } from "../ledger/ledger-store.ts";
import { connectNats } from "../nats/connect.ts";
import { startEmbeddedNats, type EmbeddedNats } from "../nats/embedded-server.ts";
import { createSubjects, kvBuckets, streamNames } from "../nats/subjects.ts";
import { Kvm } from "@nats-io/kv";
import { createWindower } from "../windows/windower-stage.ts";
import { createDetectorStage } from "../detect/detector-stage.ts";
import { applyTopology, durableNames } from "../nats/topology.ts";
import type { Logger } from "../observability/log.ts";
import { createMetrics } from "../observability/metrics.ts";
import { createEventPricer } from "../pricing/price-event.ts";
import { startStage, type RunningStage } from "../runner/consumer-runner.ts";
import { startPeriodic } from "../runner/periodic.ts";
import { createAllocator } from "../allocation/allocator.ts";
import path from "node:path";

export const stageNames = ["enrich", "ledger", "windower", "detector", "alert-store", "allocator"] as const;
export type StageName = (typeof stageNames)[number];

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
    const common = { js, subjects, metrics, signal: abort.signal, maxDeliver: config.streams.maxDeliver };
    for (const name of opts.stages) {
      const stageLog = log.child({ stage: name });
      if (name === "enrich") {
        const handle = createEnrichHandler({
          js,
          subjects,
          metrics,
          toPriced: createEventPricer(config),
          onUnknownModel: createUnpricedModelNotifier(js, subjects, stageLog),
          limits: { maxMessageBytes: config.enrich.maxMessageBytes, maxBatchEvents: config.enrich.maxBatchEvents },
        });
        stages.push(
          startStage({ ...common, stage: name, stream: streamNames.events, durable: durableNames.enrich, maxBatch: config.enrich.batch, flushMs: config.enrich.flushMs, concurrency: config.enrich.concurrency, handle, log: stageLog }),
        );
      } else if (name === "windower") {
        const kv = await new Kvm(nc).open(kvBuckets.checkpoints);
        const windower = await createWindower({ js, subjects, kv, config: config.windows, metrics, log: stageLog });
        stages.push(
          startStage({ ...common, stage: name, stream: streamNames.priced, durable: durableNames.windower, maxBatch: 200, flushMs: 20, handle: windower.handle, log: stageLog }),
          startPeriodic({ stage: "windower-emit", intervalMs: config.windows.emitMs, run: windower.emit, log: stageLog, signal: abort.signal }),
        );
      } else if (name === "detector") {
        const budgetsKv = await new Kvm(nc).open(kvBuckets.budgets);
        const stage = await createDetectorStage({ js, subjects, client: clickhouse.client, budgetsKv, config, log: stageLog });
        stages.push(
          startStage({ ...common, stage: name, stream: streamNames.windows, durable: durableNames.detector, maxBatch: 50, flushMs: 5, handle: stage.handle, log: stageLog }),
        );
      } else if (name === "allocator") {
        const allocator = createAllocator({ client: clickhouse.client, config: config.allocation, log: stageLog });
        stages.push(startPeriodic({ stage: name, intervalMs: config.allocation.intervalS * 1000, run: allocator.pass, log: stageLog, signal: abort.signal }));
      } else if (name === "alert-store") {
        const handle = createAlertStoreHandler(clickhouse.client);
        stages.push(
          startStage({ ...common, stage: name, stream: streamNames.alerts, durable: durableNames.alertsLedger, maxBatch: 500, flushMs: 50, handle, log: stageLog }),
        );
      } else {
        const store = createLedgerStore(clickhouse.client, config.ledger.dedupLookbackDays);
        const handle = createLedgerHandler({ store, metrics, log: stageLog });
        stages.push(
          startStage({ ...common, stage: name, stream: streamNames.priced, durable: durableNames.ledger, maxBatch: config.ledger.batchMessages, flushMs: config.ledger.flushMs, concurrency: 2, handle, log: stageLog }),
        );
      }
    }
    cleanup.push(async () => {
      abort.abort();
      await Promise.allSettled(stages.map((s) => s.done));
    });
    for (const s of stages) s.done.catch((err) => log.error({ err, stage: s.name }, "stage failed"));

    let apiUrl = "";
    let adminKeyFile: string | undefined;
    if (opts.api !== false) {
      const readiness = async () => ({
        nats: !nc.isClosed(),
        clickhouse: await clickhouse.client.ping().then((r) => r.success, () => false),
        stages: stages.length >= opts.stages.length,
      });
      const keys = createKeyStore(clickhouse.client);
      adminKeyFile = (await ensureAdminKey(keys, config.home, config.api.adminKey)).file;
      const app = createApi({ clickhouse: clickhouse.client, metrics, keys, targetCostPerPost: config.api.targetCostPerPost, readiness });
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
