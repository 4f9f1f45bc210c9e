// How each stage is built from the shared parts: one entry per stage name,
// each a function returning the loops it started on the shared runners.
import { jetstreamManager, type JetStreamClient } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/nats-core";
import type { ClickHouseClient } from "@clickhouse/client";
import type { Config } from "../config/config.ts";
import { alertDecoder, createAlertStoreHandler } from "../alerts/alert-store-stage.ts";
import { createUnpricedModelNotifier } from "../alerts/unpriced-model-alert.ts";
import { createAllocator } from "../allocation/allocator.ts";
import { createDetectorStage } from "../detect/detector-stage.ts";
import { ENRICH_BATCH_BYTES, createEnrichHandler, enrichDecoder } from "../enrich/enrich-stage.ts";
import { createLedgerHandler } from "../ledger/ledger-stage.ts";
import { createLedgerStore } from "../ledger/ledger-store.ts";
import { repairRollups } from "../ledger/rollup-repair.ts";
import type { PricedDecoder } from "../ledger/priced-decoder.ts";
import type { PricedEvent } from "../../schemas/index.ts";
import { kvBuckets, partitionBuckets, streamNames, type Subjects } from "../nats/subjects.ts";
import { durableNames, partitionDurable } from "../nats/topology.ts";
import { defaultInstanceId } from "../leases/lease-manager.ts";
import { leaseMetrics } from "../leases/lease-metrics.ts";
import { startPartitionedStage } from "../partitions/partitioned-stage.ts";
import { createCheckpointStore } from "../windows/checkpoint-store.ts";
import type { Logger } from "../observability/log.ts";
import type { Metrics } from "../observability/metrics.ts";
import { createCatalogPricing } from "../catalog/catalog-pricer.ts";
import { createCatalogStore } from "../catalog/catalog-store.ts";
import { createControlStore } from "../guard/control-store.ts";
import { startStage, type RunningStage } from "../runner/consumer-runner.ts";
import { createDlqWriter } from "../runner/dlq.ts";
import type { Supervisor } from "../runner/supervisor.ts";
import { startPeriodic } from "../runner/periodic.ts";
import { createWindower } from "../windows/windower-stage.ts";
import { watchBudgetedUsers } from "../budgets/budgeted-users.ts";
import { createBudgetStore } from "../budgets/budget-store.ts";
import { createCounterClient } from "../budgets/reservation-counter.ts";
import { createReservationSync } from "../budgets/reservation-sync.ts";
import { createNotifier } from "../notify/notifier-stage.ts";

export interface StageContext {
  config: Config;
  nc: NatsConnection;
  js: JetStreamClient;
  subjects: Subjects;
  clickhouse: ClickHouseClient;
  metrics: Metrics;
  /** Priced-message decoding, shared by the ledger and the windower of one process. */
  decodePriced: PricedDecoder;
  /** Enrich's hand-over of priced events to the readers of this process (absent: none here). */
  offerPriced?: (seq: number, events: PricedEvent[], data: Uint8Array) => void;
  /** Restarts a failed loop and keeps its state for health (runner/supervisor.ts). */
  supervisor?: Supervisor;
  log: Logger;
  signal: AbortSignal;
}

type StageFactory = (ctx: StageContext) => Promise<RunningStage[]>;

/** One name per started pipeline (its abort signal), shared by its partitioned stages. */
const instanceIds = new WeakMap<AbortSignal, string>();
function instanceIdOf(ctx: StageContext): string {
  let id = instanceIds.get(ctx.signal);
  if (!id) instanceIds.set(ctx.signal, (id = ctx.config.partitions.instanceId ?? defaultInstanceId()));
  return id;
}

/** The lease bucket and settings every partitioned stage of this process shares; `durables`: a partition's consumers, for the watchdog. */
async function leasing(ctx: StageContext, group: string, durables: (partition: number) => { stream: string; durable: string }[]) {
  const { config, nc, log, metrics, signal } = ctx;
  const jsm = await jetstreamManager(nc);
  return {
    stallMs: config.partitions.stallMs,
    async progress(partition: number) {
      let waiting = 0;
      let acked = 0;
      for (const c of durables(partition)) {
        const info = await jsm.consumers.info(c.stream, c.durable);
        waiting += info.num_pending + info.num_ack_pending;
        acked += info.ack_floor.stream_seq;
      }
      return { waiting, acked };
    },
    group,
    kv: await new Kvm(nc).open(partitionBuckets.leases),
    instanceId: instanceIdOf(ctx),
    partitions: config.partitions.count,
    ttlMs: config.partitions.leaseTtlMs,
    log,
    metrics: leaseMetrics(metrics.registry),
    signal,
  };
}

function consumer(ctx: StageContext, stage: string, stream: string, durable: string) {
  const { js, subjects, metrics, log, signal, config, supervisor } = ctx;
  return { stage, stream, durable, js, subjects, metrics, log, signal, supervisor, maxDeliver: config.streams.maxDeliver };
}

export const stageRegistry = {
  async enrich(ctx) {
    const { config, js, subjects, metrics, log } = ctx;
    // Prices from the catalog in ClickHouse (re-read every few seconds) over the configured ones.
    const catalog = await createCatalogPricing(config, createCatalogStore(ctx.clickhouse), config.enrich.priceCatalogRefreshMs, (err) =>
      log.warn({ err }, "price catalog refresh failed; pricing with the version already loaded"),
    );
    ctx.signal.addEventListener("abort", () => catalog.stop(), { once: true });
    const handle = createEnrichHandler({
      js,
      subjects,
      metrics,
      toPriced: catalog.toPriced,
      onUnknownModel: createUnpricedModelNotifier(js, subjects, log),
      offerPriced: ctx.offerPriced,
    });
    const decode = enrichDecoder({ maxMessageBytes: config.enrich.maxMessageBytes, maxBatchEvents: config.enrich.maxBatchEvents });
    const c = consumer(ctx, "enrich", streamNames.events, durableNames.enrich);
    return [
      startStage({
        ...c,
        maxBatch: config.enrich.batch,
        maxBatchBytes: ENRICH_BATCH_BYTES,
        flushMs: config.enrich.flushMs,
        concurrency: config.enrich.concurrency,
        decode,
        handle,
      }),
    ];
  },

  async ledger(ctx) {
    const { config, clickhouse, metrics, log } = ctx;
    const store = createLedgerStore(clickhouse, config.ledger.dedupLookbackDays);
    const partitions = config.partitions.count;
    return [
      startPartitionedStage({
        ...(await leasing(ctx, "ledger", (p) => [{ stream: streamNames.priced, durable: partitionDurable("ledger", p) }])),
        async startPartition(partition, fence, signal) {
          // Before consuming: complete the rollups of any insert a crash cut short. Only this
          // partition's tenants, which nobody else writes now (its former owner is fenced).
          await repairRollups(clickhouse, log, 300, { partition, partitions });
          const handle = createLedgerHandler({ store, metrics, log, fence });
          const c = consumer(ctx, "ledger", streamNames.priced, partitionDurable("ledger", partition));
          // Two batches in flight: the next one is parsed while the current one is inserted.
          const loop = startStage({
            ...c,
            signal,
            fence: fence.held,
            maxBatch: config.ledger.batchMessages,
            flushMs: config.ledger.flushMs,
            concurrency: 2,
            decode: ctx.decodePriced,
            handle,
          });
          return { loops: [loop] };
        },
      }),
    ];
  },

  async windower(ctx) {
    const { config, nc, js, subjects, metrics, log } = ctx;
    const kvm = new Kvm(nc);
    const legacy = await kvm.open(kvBuckets.checkpoints);
    const checkpoints = createCheckpointStore(await kvm.open(partitionBuckets.windowState));
    const userWindows = await watchBudgetedUsers(await kvm.open(kvBuckets.budgets), log);
    return [
      startPartitionedStage({
        ...(await leasing(ctx, "windower", (p) => [{ stream: streamNames.priced, durable: partitionDurable("windower", p) }])),
        async startPartition(partition, fence, signal) {
          const durable = partitionDurable("windower", partition);
          const pcon = await js.consumers.get(streamNames.priced, durable);
          const windower = await createWindower({
            js,
            subjects,
            partition,
            checkpoints,
            config: config.windows,
            userWindows,
            fence,
            ackPending: async () => (await pcon.info()).num_ack_pending,
            maxHoldMs: 2 * config.streams.ackWaitS * 1000 + config.windows.checkpointMs,
            // The single-instance windower's watermark, so an upgrade does not reopen final windows.
            legacyWatermark: async () => {
              const e = await legacy.get("windower.watermark").catch(() => null);
              return e?.value?.length ? Number(e.string()) : undefined;
            },
            metrics,
            log,
          });
          const c = consumer(ctx, "windower", streamNames.priced, durable);
          const loops = [
            startStage({ ...c, signal, fence: fence.held, maxBatch: 200, flushMs: 20, decode: ctx.decodePriced, handle: windower.handle }),
            startPeriodic({ stage: "windower-emit", intervalMs: config.windows.emitMs, run: windower.emit, log, signal }),
          ];
          return { loops, stop: async (reason) => (reason === "lost" ? windower.abandon() : windower.flush()) };
        },
      }),
    ];
  },

  async detector(ctx) {
    const { config, nc, js, subjects, clickhouse, log } = ctx;
    const kvm = new Kvm(nc);
    const budgetsKv = await kvm.open(kvBuckets.budgets);
    const controls = createControlStore({ controls: await kvm.open(kvBuckets.controls), client: clickhouse });
    const checkpoints = createCheckpointStore(await kvm.open(partitionBuckets.detectorState));
    // Hard budgets' reservation counters take the ledger's spend beside the detector, which reads the same ledger.
    const budgetList = createBudgetStore({ kv: budgetsKv, client: clickhouse }).list;
    const counters = createCounterClient({ kv: await kvm.open(kvBuckets.reservations) });
    const sync = createReservationSync({
      client: clickhouse,
      counters,
      budgets: budgetList,
      settledGraceMs: config.reservations.settledGraceMs,
      aheadMs: 5 * config.reservations.syncMs,
      log,
    });
    return [
      // One detector per partition held: its baselines, alert book and budgets are its tenants' alone.
      startPartitionedStage({
        ...(await leasing(ctx, "detector", (p) => [
          { stream: streamNames.windows, durable: partitionDurable("detector", p) },
          { stream: streamNames.windows, durable: partitionDurable("detectorPosts", p) },
        ])),
        async startPartition(partition, fence, signal) {
          const stage = await createDetectorStage({
            js,
            subjects,
            client: clickhouse,
            budgetsKv,
            controls,
            config,
            log,
            metrics: ctx.metrics,
            partition,
            checkpoints,
            fence,
          });
          const c = consumer(ctx, "detector", streamNames.windows, partitionDurable("detector", partition));
          const posts = consumer(ctx, "detector-posts", streamNames.windows, partitionDurable("detectorPosts", partition));
          const loops = [
            startStage({
              ...c,
              signal,
              fence: fence.held,
              maxBatch: 50,
              flushMs: 5,
              decode: stage.decode,
              skip: stage.skip,
              handle: stage.handle,
            }),
            startStage({
              ...posts,
              signal,
              fence: fence.held,
              maxBatch: 20,
              flushMs: 20,
              decode: stage.decode,
              skip: stage.skipPosts,
              handle: stage.handlePosts,
            }),
            startPeriodic({ stage: "detector-checkpoint", intervalMs: config.windows.checkpointMs, run: stage.checkpoint, log, signal }),
          ];
          return {
            loops,
            stop: async (reason) => {
              stage.stop();
              if (reason === "lost") stage.abandon();
              else await stage.checkpoint();
            },
          };
        },
      }),
      startPeriodic({ stage: "reservation-sync", intervalMs: config.reservations.syncMs, run: sync.pass, log, signal: ctx.signal }),
    ];
  },

  async "alert-store"(ctx) {
    const c = consumer(ctx, "alert-store", streamNames.alerts, durableNames.alertsLedger);
    return [startStage({ ...c, maxBatch: 500, flushMs: 50, decode: alertDecoder, handle: createAlertStoreHandler(ctx.clickhouse) })];
  },

  async allocator(ctx) {
    const { config, clickhouse, log, signal } = ctx;
    const allocator = createAllocator({ client: clickhouse, config: config.allocation, log });
    return [startPeriodic({ stage: "allocator", intervalMs: config.allocation.intervalS * 1000, run: allocator.pass, log, signal })];
  },

  // Always part of `up`: with no channel configured it acknowledges alerts and sends nothing,
  // so configuring a channel later does not replay a backlog of stale alerts.
  async notifier(ctx) {
    const { config, nc, clickhouse, metrics, log, signal } = ctx;
    const c = consumer(ctx, "notifier", streamNames.alerts, durableNames.notifier);
    // One dead-letter path: the runner's settling and the deliveries that gave up write through the same writer.
    const deadLetter = createDlqWriter(c);
    const notifier = await createNotifier({ config: config.notify, nc, clickhouse, deadLetter, registry: metrics.registry, log, signal });
    return [
      startStage({ ...c, maxBatch: 100, flushMs: 5, decode: notifier.decode, skip: notifier.skip, deadLetter, handle: notifier.handle }),
      notifier.delivery,
    ];
  },
} satisfies Record<string, StageFactory>;

export type StageName = keyof typeof stageRegistry;
export const stageNames = Object.keys(stageRegistry) as StageName[];
