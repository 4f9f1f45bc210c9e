// The notifier stage: reads every alert from the alerts stream (durable
// consumer `notifier`), routes it to its channels, and holds the message
// while the alert waits in its groups and is delivered; the message is
// acknowledged once every channel has it delivered, suppressed or
// dead-lettered (and the delivery log rows are stored), and nak'ed for
// redelivery when the state store or the log is unavailable. Held messages
// are kept alive with `working()` by the runner, so a crash brings them back after the
// notifier's ack wait, and the delivery state in KV keeps the redelivery from
// sending anything twice. The runner decodes each alert (dead-lettering one it
// cannot read), keeps held messages alive, and writes the dead letters of
// deliveries that gave up through the one DLQ writer the notifier is handed.
import { hostname } from "node:os";
import { randomUUID } from "node:crypto";
import { Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/nats-core";
import type { ClickHouseClient } from "@clickhouse/client";
import type { Registry } from "prom-client";
import { alertSchema, type Alert } from "../../schemas/index.ts";
import { TransientError, errorMessage } from "../errors.ts";
import type { Logger } from "../observability/log.ts";
import type { BatchHandler, Delivery, Outcome, RunningStage } from "../runner/consumer-runner.ts";
import { schemaDecoder, type Decoder } from "../runner/decoder.ts";
import type { DlqWriter } from "../runner/dlq.ts";
import type { Channel } from "./channel.ts";
import { channelSecrets, createChannels } from "./channels.ts";
import { createDeliveryLog } from "./delivery-log.ts";
import { createRedactor } from "./channel-secrets.ts";
import { createDeliveryStore } from "./delivery-state.ts";
import { dispatchGroup, type ChannelResult, type GroupItem, type GroupTarget } from "./dispatch.ts";
import { createGroupScheduler } from "./grouping.ts";
import { createInhibition } from "./inhibition.ts";
import { createKeyedLock } from "./keyed-lock.ts";
import { notifyBuckets } from "./kv-buckets.ts";
import { alertLabels } from "./labels.ts";
import type { NotifyConfig } from "../config/notify-config.ts";
import { createNotifyMetrics } from "./notify-metrics.ts";
import { groupOf, routeAlert } from "./route-tree.ts";
import { watchSilences } from "./silences.ts";

export interface NotifierDeps {
  config: NotifyConfig;
  nc: NatsConnection;
  clickhouse: ClickHouseClient;
  /** The stage's dead-letter writer (runner/dlq.ts), shared with its runner. */
  deadLetter: DlqWriter;
  registry: Registry;
  log: Logger;
  signal: AbortSignal;
  /** How long a stop lets requests in flight finish before aborting them. */
  stopGraceMs?: number;
}

export const NOTIFIER_STAGE = "notifier";

export async function createNotifier(deps: NotifierDeps): Promise<{
  decode: Decoder<Alert>;
  handle: BatchHandler<Alert>;
  /** With no channel configured, alerts are acknowledged unread. */
  skip: () => boolean;
  delivery: RunningStage;
  channels: Map<string, Channel>;
}> {
  const { config, log } = deps;
  const kvm = new Kvm(deps.nc);
  const stateKv = await kvm.open(notifyBuckets.state);
  const onInvalid = (key: string, err: unknown) => log.warn({ key, err: errorMessage(err) }, "ignoring an unreadable notifier KV entry");
  const silences = await watchSilences(await kvm.open(notifyBuckets.silences), onInvalid);
  const inhibition = await createInhibition({ kv: stateKv, rules: config.inhibit, maxAgeMs: config.inhibitMaxAgeMs, onInvalid });
  const store = createDeliveryStore(stateKv);
  const channels = createChannels(config);
  const metrics = createNotifyMetrics(deps.registry);
  const redact = createRedactor(Object.values(config.channels).flatMap(channelSecrets));
  const deliveryLog = createDeliveryLog({ client: deps.clickhouse, log, redact });
  const locks = createKeyedLock();
  const owner = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  const stopRequests = new AbortController();

  const deadLetter = async (item: GroupItem, detail: string, channel: string) => {
    await deps.deadLetter(item.msg, {
      reason: "delivery_failed",
      detail: redact(detail),
      eventId: item.alert.id,
      source: channel,
      key: `${item.alert.id}:${channel}`,
    });
  };

  const scheduler = createGroupScheduler<GroupItem>({
    merge: (pending, again) => pending.settle.push(...again.settle),
    flush: async (key, items) => {
      const t = items[0]!.target;
      const channel = channels.get(t.channel)!;
      return dispatchGroup(
        {
          channel,
          store,
          silencedBy: silences.silencedBy,
          inhibitedBy: inhibition.inhibitedBy,
          deliveryLog,
          metrics,
          locks,
          log,
          owner,
          retry: config.retry,
          deadLetter: (item, detail) => deadLetter(item, detail, channel.name),
          stopSignal: deps.signal,
          requestSignal: stopRequests.signal,
        },
        t,
        items,
      ).catch((err) => {
        // dispatchGroup settles every item itself; this only guards against a bug leaving messages unsettled.
        log.error({ err, group: key }, "dispatching a group failed");
        for (const i of items) for (const s of i.settle) s({ ok: false, error: new TransientError("unavailable", errorMessage(err)) });
        return false;
      });
    },
  });

  function accept({ msg, value: alert }: Delivery<Alert>): Outcome | Promise<Outcome> {
    const labels = alertLabels(alert);
    const routed = routeAlert(config.route, labels).filter((t) => channels.has(t.channel));
    return inhibition.observe(alert, labels).then(
      () => {
        if (routed.length === 0) return { kind: "done" } as Outcome;
        let remaining = routed.length;
        let failure: TransientError | undefined;
        let resolve!: (o: Outcome) => void;
        const until = new Promise<Outcome>((r) => (resolve = r));
        const settle = (r: ChannelResult) => {
          if (!r.ok) failure ??= r.error;
          if (--remaining === 0) resolve(failure ? { kind: "retry", error: failure } : { kind: "done" });
        };
        const publishedAtMs = Number(msg.info.timestampNanos) / 1e6;
        for (const t of routed) {
          const g = groupOf(t, labels);
          const target: GroupTarget = { key: g.key, labels: g.labels, repeatIntervalMs: t.repeatIntervalMs, channel: t.channel };
          scheduler.add(
            g.key,
            { waitMs: t.groupWaitMs, intervalMs: t.groupIntervalMs },
            { id: alert.id, target, alert, labels, msg, publishedAtMs, settle: [settle] },
          );
        }
        return { kind: "deferred", until } as Outcome;
      },
      (err) =>
        ({ kind: "retry", error: new TransientError("unavailable", `inhibition state unavailable: ${errorMessage(err)}`) }) as Outcome,
    );
  }

  const handle: BatchHandler<Alert> = async (batch) => {
    const out: Outcome[] = [];
    // In order: an alert's inhibition record is written before the next alert is looked at.
    for (const d of batch) out.push(await accept(d));
    return out;
  };

  const delivery: RunningStage = {
    name: "notifier-delivery",
    lastFlushAt: () => Date.now(),
    done: new Promise<void>((resolve) => {
      const stop = async () => {
        // Send what waits in groups now; let requests in flight finish for a moment, then cut them.
        const grace = setTimeout(() => stopRequests.abort(), deps.stopGraceMs ?? 5000);
        await scheduler.drain();
        clearTimeout(grace);
        await deliveryLog.close();
        silences.stop();
        inhibition.stop();
        for (const c of channels.values()) await c.close?.().catch(() => undefined);
        // Let the runner settle the messages the last deliveries resolved.
        await new Promise((r) => setImmediate(r));
        resolve();
      };
      if (deps.signal.aborted) void stop();
      else deps.signal.addEventListener("abort", () => void stop(), { once: true });
    }),
  };

  log.info(
    { channels: [...channels.keys()], owner },
    channels.size ? "notifier ready" : "notifier ready with no channels configured: alerts are acknowledged and not sent",
  );
  return { decode: schemaDecoder(alertSchema, "alert"), handle, skip: () => channels.size === 0, delivery, channels };
}
