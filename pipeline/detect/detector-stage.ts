// The detector stage: reads window aggregates in two lanes (durable consumers
// on the windows stream, see topology.ts): post windows — thousands a second,
// bulk work — on a consumer of their own, every other scope on the main
// lane, so spike and budget checks never queue behind post windows. Both
// lanes run the one detector (the engine, its alert book, the budgets). It runs the detectors (the window carries the likely cause:
// its top models, operations, posts and users) and publishes each alert on
// `<prefix>.alerts.<severity>.<type>`, acknowledging the window message after.
// On start it learns recent baselines from the minute rollup, and budgets
// from the costline-budgets KV bucket (watched, so changes apply at once).
import type { ClickHouseClient } from "@clickhouse/client";
import type { JetStreamClient, JsMsg } from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
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
}

export async function createDetectorStage(deps: DetectorStageDeps) {
  const { client, log } = deps;
  const detector = createDetector(detectorOptions(deps.config));

  await warmStart();
  await loadBudgets();

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
    const rows = await queryRows<{
      tenant: string;
      provider: string;
      model: string;
      window_start: string;
      cost_usd: string;
      output_tokens: number | string;
      events: number | string;
    }>(client, sqlFile("detector_warm_start"), { window_s: deps.config.windows.windowS, hours: deps.config.detector.warmStartHours });
    const tenantTotals = new Map<string, { cost: number; out: number; events: number; start: string; tenant: string }>();
    for (const r of rows) {
      const start = `${r.window_start.replace(" ", "T")}Z`;
      if (r.model)
        detector.engine.learn({
          scope: "tenant_model",
          key: { tenant: r.tenant, provider: r.provider, model: r.model },
          window_start: start,
          cost_usd: r.cost_usd,
          output_tokens: Number(r.output_tokens),
          requests: Number(r.events),
        });
      const k = `${r.tenant}\u0000${start}`;
      const t = tenantTotals.get(k) ?? { cost: 0, out: 0, events: 0, start, tenant: r.tenant };
      t.cost += Number(r.cost_usd);
      t.out += Number(r.output_tokens);
      t.events += Number(r.events);
      tenantTotals.set(k, t);
    }
    for (const t of tenantTotals.values())
      detector.engine.learn({
        scope: "tenant",
        key: { tenant: t.tenant },
        window_start: t.start,
        cost_usd: String(t.cost),
        output_tokens: t.out,
        requests: t.events,
      });
    log.info({ windows: rows.length, series: detector.engine.seriesCount() }, "detector baselines restored from rollups");
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

  async function loadBudgets(): Promise<void> {
    const watch = await deps.budgetsKv.watch();
    void (async () => {
      for await (const e of watch) {
        try {
          if (e.operation === "PUT") await applyBudget(e.key, e.json());
          else detector.budgets.remove(e.key);
        } catch (err) {
          log.warn({ err, key: e.key }, "could not apply a budget");
        }
      }
    })();
  }

  const userWindows = deps.subjects.windows("tenant_user");
  const postWindows = deps.subjects.windows("post");

  // Messages one after another in each lane, so alerts (and resolutions) go out in window order.
  const lane: BatchHandler<WindowAggregate[]> = async (batch) => {
    const outcomes: Outcome[] = [];
    for (const d of batch) outcomes.push(await handleOne(d.value));
    return outcomes;
  };
  // Both lanes' consumers read every window subject: the other lane's messages are acknowledged
  // unread (their own consumer handles them), and so are per-user windows while no user has a budget.
  const skip = (msg: JsMsg) => msg.subject === postWindows || (msg.subject === userWindows && !detector.budgets.hasUserBudgets());
  const skipPosts = (msg: JsMsg) => msg.subject !== postWindows;

  async function handleOne(windows: WindowAggregate[]): Promise<Outcome> {
    const now = new Date();
    const alerts: Alert[] = [];
    const emitted = new Map<Alert, number>();
    for (const w of windows)
      for (const a of detector.process(w, now)) {
        alerts.push(a);
        emitted.set(a, Date.parse(w.emitted_at));
      }
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
    if (failed === undefined) return { kind: "done" };
    return {
      kind: "retry",
      error: new TransientError("unavailable", `publishing alerts failed: ${errorMessage(failed)}`, { cause: failed }),
    };
  }

  return { decode: schemaDecoder(windowBatchSchema, "windows"), handle: lane, handlePosts: lane, skip, skipPosts, detector };
}
