// The detector of one partition: reads the partition's window aggregates in
// two lanes (durable consumers on the windows stream, see topology.ts): post
// windows — thousands a second, bulk work — on a consumer of their own, every
// other scope on the main lane, so spike and budget checks never queue behind
// post windows. Both lanes run the one detector (the engine, its alert book,
// the budgets of the partition's tenants). It runs the detectors (the window
// carries the likely cause: its top models, operations, posts and users) and
// publishes each alert on `<prefix>.alerts.<severity>.<type>`.
//
// State is checkpointed per partition (detector-checkpoint.ts): a window that
// changed it (a final window, or one that alerted) is acknowledged once a
// checkpoint that holds its effect is durable. A takeover loads the checkpoint
// — baselines and alert book as they were — and the windows after it come
// back to it; their alerts are judged at the windows' own emission time, so a
// window judged again raises an alert with the same id (JetStream's duplicate
// window and the alerts table drop it). Without a checkpoint it learns recent
// baselines from the minute rollup. Budgets come from the costline-budgets KV
// bucket (watched, so changes apply at once).
import type { ClickHouseClient } from "@clickhouse/client";
import type { JetStreamClient, JsMsg } from "@nats-io/jetstream";
import { KvWatchInclude, type KV } from "@nats-io/kv";
import type { Config } from "../config/config.ts";
import { queryRows } from "../clickhouse/client.ts";
import { TransientError, errorMessage, formatIssues } from "../errors.ts";
import type { Logger } from "../observability/log.ts";
import type { Metrics } from "../observability/metrics.ts";
import type { Subjects } from "../nats/subjects.ts";
import { sqlFile } from "../queries/sql-files.ts";
import type { BatchHandler, Outcome } from "../runner/consumer-runner.ts";
import { schemaDecoder } from "../runner/decoder.ts";
import { parseBudget, windowBatchSchema, type Alert, type WindowAggregate } from "../../schemas/index.ts";
import { readSpendBuckets } from "../budgets/budget-spend.ts";
import { readAlertedThresholds } from "../budgets/budget-alerted.ts";
import { raiseBudgetAlertsOnChange } from "../budgets/budget-on-change.ts";
import type { ControlStore } from "../guard/control-store.ts";
import { controlScopeOf, detectorTag, escalate } from "../guard/escalation.ts";
import { controlKvKey } from "../guard/guard.ts";
import { createDetector, detectorOptions } from "./detector.ts";
import { createDetectorJournal, type DetectorCheckpoint } from "./detector-checkpoint.ts";
import type { CheckpointStore } from "../windows/checkpoint-store.ts";
import type { Fence } from "../leases/lease-manager.ts";
import { partitionOf, partitionSql } from "../nats/partition.ts";

export interface DetectorStageDeps {
  js: JetStreamClient;
  subjects: Subjects;
  client: ClickHouseClient;
  budgetsKv: KV;
  /** Where the escalation policy writes controls (absent: alerts only). */
  controls?: ControlStore;
  config: Config;
  log: Logger;
  metrics?: Metrics;
  /** The partition this detector owns (absent: every tenant, nothing checkpointed). */
  partition?: number;
  /** Where the partition's state is checkpointed. */
  checkpoints?: CheckpointStore;
  /** The partition's lease: nothing is checkpointed once it is lost. */
  fence?: Fence;
}

const DONE: Outcome = { kind: "done" };

export async function createDetectorStage(deps: DetectorStageDeps) {
  const { client } = deps;
  const partition = deps.partition;
  const partitions = deps.subjects.partitions;
  const log = partition === undefined ? deps.log : deps.log.child({ partition });
  const detector = createDetector(detectorOptions(deps.config));
  const journal = createDetectorJournal();
  /** Is the tenant one of this detector's? */
  const mine = (tenant: string) => partition === undefined || partitionOf(tenant, partitions) === partition;

  const saved = partition !== undefined && deps.checkpoints ? await deps.checkpoints.load(partition) : null;
  if (saved) {
    const cp = JSON.parse(Buffer.from(saved).toString("utf8")) as DetectorCheckpoint;
    journal.restore(cp, detector.engine);
    detector.book.load(cp.book);
    log.info(
      { series: detector.engine.seriesCount(), firing: detector.book.firingCount() },
      "detector partition resumed from its checkpoint",
    );
  } else await warmStart();
  const budgetWatch = await loadBudgets();

  // Controls are applied off the detection path, in alert order per scope (one
  // lane per scope, so a burst of changes on some scopes never delays another's).
  const lanes = new Map<string, Promise<void>>();
  function control(a: Alert): void {
    const scope = controlScopeOf(a);
    if (!scope || !deps.controls) return;
    const key = controlKvKey(scope);
    const next = (lanes.get(key) ?? Promise.resolve())
      .then(() => applyControl(a))
      .catch((err) => log.error({ err, alert: a.id }, "could not apply the control for an alert"));
    lanes.set(key, next);
    void next.then(() => {
      if (lanes.get(key) === next) lanes.delete(key);
    });
  }

  /** Applies the escalation policy for one alert: a control set or cleared, audited. */
  async function applyControl(a: Alert): Promise<void> {
    if (!deps.controls) return;
    const scope = controlScopeOf(a);
    if (!scope) return;
    const act = escalate(a, await deps.controls.getControl(scope), { config: deps.config.escalation });
    if (act?.action === "set") {
      await deps.controls.setControl(act.control, act.control.set_by);
      log.warn({ scope: act.control.scope, state: act.control.state }, `control set: ${act.control.reason}`);
    } else if (act?.action === "clear") {
      await deps.controls.clearControl(act.scope, detectorTag(a), act.reason);
      log.info({ scope: act.scope }, "control cleared");
    }
  }

  /** Baselines from the minute rollup, so a restart is neither blind nor noisy. */
  async function warmStart(): Promise<void> {
    // The minute rollup cannot say what a window shorter than a minute (or not a whole number of them)
    // usually costs: learning minute totals as windows would set every baseline too high.
    if (deps.config.windows.windowS % 60 !== 0) {
      log.info({ window_s: deps.config.windows.windowS }, "detector baselines start empty: windows are not whole minutes of the rollup");
      return;
    }
    const rows = await queryRows<{
      tenant: string;
      provider: string;
      model: string;
      window_start: string;
      cost_usd: string;
      output_tokens: number | string;
      events: number | string;
    }>(client, warmStartSql(), {
      window_s: deps.config.windows.windowS,
      hours: deps.config.detector.warmStartHours,
      partition: partition ?? 0,
    });
    const tenantTotals = new Map<string, { cost: number; out: number; events: number; start: string; tenant: string }>();
    for (const r of rows) {
      const start = `${r.window_start.replace(" ", "T")}Z`;
      if (r.model) learn("tenant_model", { tenant: r.tenant, provider: r.provider, model: r.model }, r.tenant, start, r.cost_usd, r);
      const k = `${r.tenant}\u0000${start}`;
      const t = tenantTotals.get(k) ?? { cost: 0, out: 0, events: 0, start, tenant: r.tenant };
      t.cost += Number(r.cost_usd);
      t.out += Number(r.output_tokens);
      t.events += Number(r.events);
      tenantTotals.set(k, t);
    }
    for (const t of tenantTotals.values())
      learn("tenant", { tenant: t.tenant }, t.tenant, t.start, String(t.cost), { output_tokens: t.out, events: t.events });
    log.info({ windows: rows.length, series: detector.engine.seriesCount() }, "detector baselines restored from rollups");
  }

  function learn(
    scope: "tenant" | "tenant_model",
    key: Record<string, string>,
    tenant: string,
    start: string,
    cost: string,
    r: { output_tokens: number | string; events: number | string },
  ): void {
    const w = {
      scope,
      key,
      tenant,
      window_start: start,
      window_end: new Date(Date.parse(start) + deps.config.windows.windowS * 1000).toISOString(),
      cost_usd: cost,
      revenue_usd: "0",
      input_tokens: 0,
      output_tokens: Number(r.output_tokens),
      requests: Number(r.events),
      events: Number(r.events),
      by_model: {},
      by_operation: {},
    };
    detector.engine.learn(w);
    journal.learned(w);
  }

  /** The warm start's query, for this detector's partition only. */
  function warmStartSql(): string {
    const sql = sqlFile("detector_warm_start");
    if (partition === undefined) return sql;
    // ORDER BY: oldest first again (the order the baselines learn in), over the partition's rows.
    return `SELECT * FROM (${sql}\n) WHERE ${partitionSql("tenant", partitions)} = {partition:UInt32} ORDER BY window_start, tenant, provider, model`;
  }

  /**
   * Loads a budget and seeds it with the spend the ledger already holds for
   * its period, up to the start of the current window: windows from then on
   * come through the stream.
   */
  async function applyBudget(key: string, raw: unknown): Promise<void> {
    const b = parseBudget(raw);
    if (!b.success) {
      log.warn({ key, err: formatIssues(b.error) }, "ignoring an invalid budget");
      return;
    }
    // Another partition's tenant: its owner tracks and alerts it.
    if (!mine(b.data.scope.tenant)) return;
    const now = Date.now();
    const windowMs = deps.config.windows.windowS * 1000;
    const cutoff = new Date(Math.floor(now / windowMs) * windowMs);
    // Windows from the cutoff on count from now, also while the ledger is read.
    detector.budgets.set(b.data, key, cutoff.getTime());
    const from = detector.budgets.lookbackStart(key, new Date(now))!;
    detector.budgets.seed(key, await readSpendBuckets(client, b.data.scope, from, cutoff));
    // Thresholds this period already alerted (before a restart, or before the budget was edited) stay quiet.
    const alerted = await readAlertedThresholds(client, b.data.scope.tenant, detector.budgets.thresholdSeries(key, new Date(now)), from);
    detector.budgets.restoreCrossed(key, alerted, new Date(now));
    log.info({ key, spend: detector.budgets.spend(key), alerted }, "budget loaded");
    // Thresholds the period's spend already crossed alert now, not at the scope's next window.
    const publish = (a: Alert) => deps.js.publish(deps.subjects.alerts(a.severity, a.type), JSON.stringify(a), { msgID: `alert:${a.id}` });
    for (const a of await raiseBudgetAlertsOnChange({ tracker: detector.budgets, client, publish }, key, cutoff, new Date(now))) {
      control(a);
      log.info({ type: a.type, severity: a.severity, tenant: a.tenant, key }, a.message);
    }
  }

  /** The budget being applied now: windows wait for it, or one judged while the ledger's spend is read alerts on part of the spend. */
  let applying: Promise<void> = Promise.resolve();
  async function loadBudgets() {
    // Changes from now on (buffered), then the budgets there are, applied before any window is judged.
    const watch = await deps.budgetsKv.watch({ include: KvWatchInclude.UpdatesOnly });
    for await (const key of await deps.budgetsKv.keys()) {
      const e = await deps.budgetsKv.get(key);
      if (e?.operation !== "PUT") continue;
      await applyBudget(key, e.json()).catch((err) => log.warn({ err, key }, "could not apply a budget"));
    }
    void (async () => {
      for await (const e of watch) {
        const apply = (async () => {
          try {
            if (e.operation === "PUT") await applyBudget(e.key, e.json());
            else detector.budgets.remove(e.key);
          } catch (err) {
            log.warn({ err, key: e.key }, "could not apply a budget");
          }
        })();
        applying = apply;
        await apply;
      }
    })();
    return watch;
  }

  const isPosts = (subject: string) => subject.startsWith(`${deps.subjects.prefix}.windows.post.`);
  const isUsers = (subject: string) => subject.startsWith(`${deps.subjects.prefix}.windows.tenant_user.`);

  // Messages one after another in each lane, so alerts (and resolutions) go out in window order.
  const lane: BatchHandler<WindowAggregate[]> = async (batch) => {
    const outcomes: Outcome[] = [];
    for (const d of batch) outcomes.push(await handleOne(d.value));
    return outcomes;
  };
  // Both lanes' consumers read every window subject of the partition: the other lane's messages are
  // acknowledged unread (their own consumer handles them), and so are per-user windows while no user has a budget.
  const skip = (msg: JsMsg) => isPosts(msg.subject) || (isUsers(msg.subject) && !detector.budgets.hasUserBudgets());
  const skipPosts = (msg: JsMsg) => !isPosts(msg.subject);

  async function handleOne(windows: WindowAggregate[]): Promise<Outcome> {
    await applying;
    const alerts: Alert[] = [];
    const emitted = new Map<Alert, number>();
    let changed = false;
    for (const w of windows) {
      if (!mine(w.tenant)) continue; // not this partition's (a window published before partitioning)
      // Judged at the window's emission: the same window judged again (a takeover) raises the same alert id.
      const at = new Date(Date.parse(w.emitted_at));
      for (const a of detector.process(w, at)) {
        alerts.push(a);
        emitted.set(a, at.getTime());
      }
      journal.judged(w);
      changed ||= w.final;
    }
    changed ||= alerts.length > 0;
    // All of a message's alerts go out at once, in order on the one connection, and
    // their acks are awaited together: a window that alerts on many posts does not
    // hold the windows behind it for a round trip per alert.
    const published = await Promise.allSettled(
      alerts.map((a) =>
        deps.js.publish(deps.subjects.alerts(a.severity, a.type), JSON.stringify(a), { msgID: `alert:${a.id}` }).then(() => {
          deps.metrics?.alertLatency.observe({ type: a.type }, Math.max(0, Date.now() - (emitted.get(a) ?? Date.now())) / 1000);
        }),
      ),
    );
    let failed: unknown;
    published.forEach((p, i) => {
      if (p.status === "rejected") {
        failed ??= p.reason;
        return;
      }
      const a = alerts[i]!;
      control(a);
      log.info({ type: a.type, severity: a.severity, status: a.status, tenant: a.tenant, scope: a.scope, key: a.scope_key }, a.message);
    });
    if (failed === undefined) return changed ? afterCheckpoint() : DONE;
    return {
      kind: "retry",
      error: new TransientError("unavailable", `publishing alerts failed: ${errorMessage(failed)}`, { cause: failed }),
    };
  }

  /** Messages whose effect waits for the next checkpoint. */
  let waiting: (() => void)[] = [];
  const held = () => !deps.fence || deps.fence.held();
  function afterCheckpoint(): Outcome {
    if (partition === undefined || !deps.checkpoints) return DONE;
    return { kind: "deferred", until: new Promise<Outcome>((resolve) => waiting.push(() => resolve(DONE))) };
  }

  /** Writes the book and the baselines' history; the messages judged before it are acknowledged after. */
  async function checkpoint(): Promise<void> {
    if (partition === undefined || !deps.checkpoints || waiting.length === 0) return;
    const release = waiting;
    waiting = [];
    try {
      if (!held()) throw new TransientError("unavailable", `lease of detector partition ${partition} lost`);
      await deps.checkpoints.save(partition, Buffer.from(JSON.stringify(journal.snapshot(detector.book.snapshot()))));
    } catch (err) {
      waiting = release.concat(waiting);
      throw err;
    }
    for (const fn of release) fn();
  }

  /** The lease was lost: nothing more is written; the messages waiting go back (fenced: nak) to the new owner. */
  function abandon(): void {
    const release = waiting;
    waiting = [];
    for (const fn of release) fn();
  }

  function stop(): void {
    budgetWatch.stop();
  }

  return {
    decode: schemaDecoder(windowBatchSchema, "windows"),
    handle: lane,
    handlePosts: lane,
    skip,
    skipPosts,
    detector,
    checkpoint,
    abandon,
    stop,
    waiting: () => waiting.length,
  };
}
