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
import { createEnrichHandler, enrichDecoder } from "../enrich/enrich-stage.ts";
import { createLedgerHandler } from "../ledger/ledger-stage.ts";
import { createLedgerStore } from "../ledger/ledger-store.ts";
import { repairRollups } from "../ledger/rollup-repair.ts";
import type { PricedDecoder } from "../ledger/priced-decoder.ts";
import type { PricedEvent } from "../../schemas/index.ts";
import { kvBuckets, partitionBuckets, type Subjects } from "../nats/subjects.ts";
import { partitionConsumers, partitionedDurable, stageSpecs, type ConsumerSpec, type StageName } from "../nats/stage-specs.ts";
import { leaseMetrics } from "../leases/lease-metrics.ts";
import { startPartitionedStage } from "../partitions/partitioned-stage.ts";
import type { Fence } from "../leases/lease-manager.ts";
import { partitionOf } from "../nats/partition.ts";
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
  /** This process's name in the partition leases, shared by its partitioned stages, and its earlier stopped lives. */
  instance: { id: string; takeOverFrom: readonly string[] };
  log: Logger;
  signal: AbortSignal;
}

type StageFactory = (ctx: StageContext) => Promise<RunningStage[]>;

/** The lease bucket and settings every partitioned stage of this process shares; the watchdog reads the partition's consumers of the stage table. */
async function leasing(ctx: StageContext, group: StageName) {
  const { config, nc, log, metrics, signal, subjects } = ctx;
  const jsm = await jetstreamManager(nc);
  return {
    stallMs: config.partitions.stallMs,
    async progress(partition: number) {
      let waiting = 0;
      let acked = 0;
      for (const c of partitionConsumers(group, subjects, partition)) {
        const info = await jsm.consumers.info(c.stream, c.durable);
        waiting += info.num_pending + info.num_ack_pending;
        acked += info.ack_floor.stream_seq;
      }
      return { waiting, acked };
    },
    group,
    kv: await new Kvm(nc).open(partitionBuckets.leases),
    instanceId: ctx.instance.id,
    takeOverFrom: ctx.instance.takeOverFrom,
    partitions: config.partitions.count,
    ttlMs: config.partitions.leaseTtlMs,
    log,
    metrics: leaseMetrics(metrics.registry),
    signal,
  };
}

/**
 * A loop's runner settings from its entry in the stage table: its name, stream and
 * durable consumer (one partition's, for a partitioned stage) and its batch knobs.
 */
function consumer(ctx: StageContext, spec: ConsumerSpec, partition?: number) {
  const { js, subjects, metrics, log, signal, config, supervisor } = ctx;
  const durable = partition === undefined ? spec.durable : partitionedDurable(spec.durable, partition);
  return {
    stage: spec.loop,
    stream: spec.stream,
    durable,
    js,
    subjects,
    metrics,
    log,
    signal,
    supervisor,
    maxDeliver: config.streams.maxDeliver,
    ...spec.batch(config),
  };
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
    const [main] = stageSpecs.enrich.consumers;
    return [startStage({ ...consumer(ctx, main), decode, handle })];
  },

  async ledger(ctx) {
    const { config, clickhouse, metrics, log } = ctx;
    const store = createLedgerStore(clickhouse, config.ledger.dedupLookbackDays);
    const partitions = config.partitions.count;
    return [
      startPartitionedStage({
        ...(await leasing(ctx, "ledger")),
        async startPartition(partition, fence, signal) {
          // Before consuming: complete the rollups of any insert a crash cut short. Only this
          // partition's tenants, which nobody else writes now (its former owner is fenced).
          await repairRollups(clickhouse, log, 300, { partition, partitions });
          const handle = createLedgerHandler({ store, metrics, log, fence });
          const [main] = stageSpecs.ledger.consumers;
          const loop = startStage({ ...consumer(ctx, main, partition), signal, fence: fence.held, decode: ctx.decodePriced, handle });
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
        ...(await leasing(ctx, "windower")),
        async startPartition(partition, fence, signal) {
          const c = consumer(ctx, stageSpecs.windower.consumers[0], partition);
          const pcon = await js.consumers.get(c.stream, c.durable);
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
          const loops = [
            startStage({ ...c, signal, fence: fence.held, decode: ctx.decodePriced, handle: windower.handle }),
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
        ...(await leasing(ctx, "detector")),
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
          const [main, postLane] = stageSpecs.detector.consumers;
          const c = consumer(ctx, main, partition);
          const posts = consumer(ctx, postLane, partition);
          const loops = [
            startStage({
              ...c,
              signal,
              fence: fence.held,
              decode: stage.decode,
              skip: stage.skip,
              handle: stage.handle,
            }),
            startStage({
              ...posts,
              signal,
              fence: fence.held,
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
    const c = consumer(ctx, stageSpecs["alert-store"].consumers[0]);
    return [startStage({ ...c, decode: alertDecoder, handle: createAlertStoreHandler(ctx.clickhouse) })];
  },

  async allocator(ctx) {
    const { config, clickhouse, log, signal } = ctx;
    // Partitions through leases, like the stateful stages, though it reads no consumer: one
    // instance splits a tenant's window, so several instances never store two splits of one cost.
    const fences = new Map<number, Fence>();
    let acquired = 0;
    const allocator = createAllocator({
      client: clickhouse,
      config: config.allocation,
      log,
      ownership: {
        partitions: config.partitions.count,
        owned: () => [...fences].filter(([, f]) => f.held()).map(([p]) => p),
        holds: (tenant) => fences.get(partitionOf(tenant, config.partitions.count))?.held() === true,
        generation: () => acquired,
      },
    });
    return [
      startPartitionedStage({
        ...(await leasing(ctx, "allocator")),
        async startPartition(partition, fence) {
          fences.set(partition, fence);
          acquired++;
          return { loops: [], stop: async () => void fences.delete(partition) };
        },
      }),
      startPeriodic({ stage: "allocator", intervalMs: config.allocation.intervalS * 1000, run: allocator.pass, log, signal }),
    ];
  },

  // Always part of `up` (see stage-specs.ts).
  async notifier(ctx) {
    const { config, nc, clickhouse, metrics, log, signal } = ctx;
    const c = consumer(ctx, stageSpecs.notifier.consumers[0]);
    // One dead-letter path: the runner's settling and the deliveries that gave up write through the same writer.
    const deadLetter = createDlqWriter(c);
    const notifier = await createNotifier({ config: config.notify, nc, clickhouse, deadLetter, registry: metrics.registry, log, signal });
    return [startStage({ ...c, decode: notifier.decode, skip: notifier.skip, deadLetter, handle: notifier.handle }), notifier.delivery];
  },
} satisfies Record<StageName, StageFactory>;

// The table's names: a stage declared in stage-specs.ts without a factory here (or the reverse) does not compile.
export { stageNames, type StageName } from "../nats/stage-specs.ts";
