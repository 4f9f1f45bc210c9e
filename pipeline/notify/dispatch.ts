// Sends one flushed group to one channel, exactly once per (alert, channel):
//   1. under the (channel, fingerprint) locks, read each alert's delivery state:
//      settled → nothing to do; claimed by a live process → come back later;
//      claimed by a dead one → resend its notification under the same id;
//   2. new alerts: silenced, inhibited, within the repeat interval, or a resolve
//      the channel never saw fire → recorded as suppressed;
//   3. the rest are claimed (KV create) into notifications (one per group, or
//      one per alert for PagerDuty), sent with retries, and recorded as
//      delivered (KV update at the claim's revision) — or, after the last
//      retry, dead-lettered with the channel's error and recorded as failed;
//   4. the delivery log rows are written, then each alert's message is settled.
import { createHash } from "node:crypto";
import type { JsMsg } from "@nats-io/jetstream";
import type { Alert, DeliveryRecord, DeliveryState } from "../../schemas/index.ts";
import { TransientError, errorMessage } from "../errors.ts";
import type { Logger } from "../observability/log.ts";
import type { Channel, Notification } from "./channel.ts";
import { decideClaim, type DeliveryStore } from "./delivery-state.ts";
import type { DeliveryLog } from "./delivery-log.ts";
import type { KeyedLock } from "./keyed-lock.ts";
import type { Labels } from "./labels.ts";
import type { NotifyMetrics } from "./notify-metrics.ts";
import { suppression } from "./suppression.ts";
import { withRetries, type DeliveryError, type RetryPolicy } from "./retry.ts";

/** One alert waiting in a group for one channel. */
export interface GroupItem {
  id: string;
  /** The group it waits in (the same for every item of a group). */
  target: GroupTarget;
  alert: Alert;
  labels: Labels;
  msg: JsMsg;
  /** When the alert was stored on the alerts stream. */
  publishedAtMs: number;
  /** One per message that carried this alert (a redelivery joins the pending one). */
  settle: ((r: ChannelResult) => void)[];
}

export type ChannelResult = { ok: true } | { ok: false; error: TransientError };

export interface DispatchDeps {
  channel: Channel;
  store: DeliveryStore;
  silencedBy(labels: Labels, now: number): { id: string } | undefined;
  inhibitedBy(alert: Alert, labels: Labels, now: number): { fingerprint: string } | undefined;
  deliveryLog: DeliveryLog;
  metrics: NotifyMetrics;
  locks: KeyedLock;
  log: Logger;
  /** This process, as written in the claims it holds. */
  owner: string;
  retry: RetryPolicy & { timeout: number };
  /** Publishes the dead-letter record of a delivery that gave up. */
  deadLetter(item: GroupItem, detail: string): Promise<void>;
  /** Aborts retry waits (stop); `requestSignal` aborts requests in flight (stop, after a grace period). */
  stopSignal: AbortSignal;
  requestSignal: AbortSignal;
}

export interface GroupTarget {
  key: string;
  channel: string;
  labels: Record<string, string>;
  repeatIntervalMs: number;
}

/** The notification id: the same for the same channel and alerts, so a resend carries the same idempotency key. */
export const notificationId = (channel: string, alertIds: readonly string[]): string =>
  createHash("sha256").update(`${channel}\u0000${[...alertIds].sort().join("\u0000")}`).digest("hex").slice(0, 32);

const retryLater = (why: string): ChannelResult => ({ ok: false, error: new TransientError("unavailable", why) });

interface Batch {
  id: string;
  items: GroupItem[];
  /** Each item's claim revision. */
  revisions: Map<GroupItem, number>;
  /** Attempts started before this process took the claim (a resend continues the count). */
  attemptsBefore: number;
}

/** Returns true when a notification was sent (whatever the answer), false when there was nothing to send. */
export async function dispatchGroup(deps: DispatchDeps, group: GroupTarget, items: GroupItem[]): Promise<boolean> {
  const { channel, store, owner } = deps;
  const ch = channel.name;
  const results = new Map<GroupItem, ChannelResult>();
  const rows: DeliveryRecord[] = [];
  const row = (item: GroupItem, nid: string, attempt: number, result: DeliveryRecord["result"], reason: string, status: number | null, latencyMs: number | null) =>
    rows.push({
      attempted_at: new Date().toISOString(),
      notification_id: nid,
      alert_id: item.alert.id,
      fingerprint: item.alert.fingerprint,
      tenant: item.alert.tenant,
      type: item.alert.type,
      severity: item.alert.severity,
      status: item.alert.status,
      channel: ch,
      channel_type: channel.type,
      attempt,
      result,
      reason: reason.slice(0, 2000),
      http_status: status,
      latency_ms: latencyMs === null ? null : Math.max(0, Math.round(latencyMs)),
    });
  const claimState = (nid: string, attempts: number, state: DeliveryState["state"] = "sending", reason = ""): DeliveryState => ({
    state,
    notification_id: nid,
    owner,
    lease_until: Date.now() + deps.retry.timeout + 2000,
    attempts,
    reason,
    updated_at: new Date().toISOString(),
  });

  // Older first; a firing alert before a resolve of the same moment.
  items.sort((a, b) => a.alert.detected_at.localeCompare(b.alert.detected_at) || (a.alert.status === "firing" ? -1 : 1));
  const release = await deps.locks.acquire(items.map((i) => `${ch}|${i.alert.fingerprint}`));
  let sent = false;
  try {
    const now = Date.now();
    const fresh: GroupItem[] = [];
    const resend = new Map<string, Batch>();
    /** Fingerprints this flush tells the channel about, and as what. */
    const told = new Map<string, Alert["status"]>();

    for (const item of items) {
      const a = item.alert;
      try {
        const current = await store.get(ch, a.id);
        const d = decideClaim(current, now, owner);
        if (d.kind === "settled") {
          results.set(item, { ok: true });
          continue;
        }
        if (d.kind === "busy") {
          results.set(item, retryLater(`another notifier holds the delivery of ${a.id} on ${ch} until ${new Date(d.untilMs).toISOString()}`));
          continue;
        }
        if (d.kind === "uncertain") {
          const prev = d.current.value;
          if (channel.onUncertain === "skip") {
            const detail = `${ch}: a notifier stopped between sending notification ${prev.notification_id} and recording the answer; not resent (on_uncertain: skip)`;
            await deps.deadLetter(item, detail);
            await store.update(ch, a.id, claimState(prev.notification_id, prev.attempts, "failed", detail), d.current.revision);
            row(item, prev.notification_id, prev.attempts, "failed", detail, null, null);
            deps.metrics.deliveries.inc({ channel: ch, result: "failed" });
            results.set(item, { ok: true });
            continue;
          }
          const rev = await store.update(ch, a.id, claimState(prev.notification_id, prev.attempts + 1), d.current.revision);
          let b = resend.get(prev.notification_id);
          if (!b) resend.set(prev.notification_id, (b = { id: prev.notification_id, items: [], revisions: new Map(), attemptsBefore: prev.attempts }));
          b.items.push(item);
          b.revisions.set(item, rev);
          told.set(a.fingerprint, a.status);
          continue;
        }
        const why = await suppression(deps, group, item, told, now);
        if (why) {
          const nid = notificationId(ch, [a.id]);
          await store.create(ch, a.id, claimState(nid, 0, "suppressed", why));
          row(item, nid, 0, "suppressed", why, null, null);
          deps.metrics.deliveries.inc({ channel: ch, result: "suppressed" });
          results.set(item, { ok: true });
          continue;
        }
        fresh.push(item);
        told.set(a.fingerprint, a.status);
      } catch (err) {
        results.set(item, retryLater(`${ch}: delivery state unavailable: ${errorMessage(err)}`));
      }
    }

    const batches: Batch[] = [...resend.values()];
    for (const chunk of channel.batchable ? (fresh.length ? [fresh] : []) : fresh.map((i) => [i])) {
      const b: Batch = { id: notificationId(ch, chunk.map((i) => i.alert.id)), items: [], revisions: new Map(), attemptsBefore: 0 };
      for (const item of chunk) {
        try {
          const rev = await store.create(ch, item.alert.id, claimState(b.id, 1));
          if (rev === null) results.set(item, retryLater(`${ch}: ${item.alert.id} was claimed concurrently`));
          else b.items.push(item), b.revisions.set(item, rev);
        } catch (err) {
          results.set(item, retryLater(`${ch}: could not claim ${item.alert.id}: ${errorMessage(err)}`));
        }
      }
      if (b.items.length) batches.push(b);
    }

    // A batchable channel gets its notifications in order; PagerDuty's one-alert
    // events run in parallel, one chain per fingerprint (trigger before resolve).
    sent = batches.length > 0;
    const chains = new Map<string, Batch[]>();
    for (const b of batches) {
      const k = channel.batchable ? "" : b.items[0]!.alert.fingerprint;
      chains.set(k, [...(chains.get(k) ?? []), b]);
    }
    await Promise.all(
      [...chains.values()].map(async (chain) => {
        for (const b of chain) await send(deps, group, b, results, row);
      }),
    );
  } finally {
    release();
    try {
      await deps.deliveryLog.write(rows);
    } catch (err) {
      deps.log.error({ err }, "delivery log write failed");
    }
    for (const item of items) {
      const r = results.get(item) ?? retryLater(`${ch}: delivery did not finish`);
      for (const s of item.settle) s(r);
    }
  }
  return sent;
}

async function send(
  deps: DispatchDeps,
  group: GroupTarget,
  b: Batch,
  results: Map<GroupItem, ChannelResult>,
  row: (item: GroupItem, nid: string, attempt: number, result: DeliveryRecord["result"], reason: string, status: number | null, latencyMs: number | null) => void,
): Promise<void> {
  const { channel, store } = deps;
  const ch = channel.name;
  const n: Notification = { id: b.id, channel: ch, groupKey: group.key, groupLabels: group.labels, alerts: b.items.map((i) => i.alert) };
  const sendingState = (attempts: number): DeliveryState => ({
    state: "sending",
    notification_id: b.id,
    owner: deps.owner,
    lease_until: Date.now() + deps.retry.timeout + 2000,
    attempts,
    reason: "",
    updated_at: new Date().toISOString(),
  });
  try {
    const outcome = await withRetries(
      async (attempt) => {
        // Renew the lease before every attempt after the first (the claim itself was the first).
        if (attempt > 1) for (const item of b.items) b.revisions.set(item, await store.update(ch, item.alert.id, sendingState(b.attemptsBefore + attempt), b.revisions.get(item)!));
        return channel.send(n, deps.requestSignal);
      },
      deps.retry,
      {
        signal: deps.stopSignal,
        onRetry: (attempt, error: DeliveryError, delayMs) => {
          for (const item of b.items) row(item, b.id, b.attemptsBefore + attempt, "retried", `${error.message}; next attempt in ${delayMs} ms`, error.opts.status ?? null, null);
          deps.metrics.deliveries.inc({ channel: ch, result: "retried" }, b.items.length);
          deps.log.warn({ channel: ch, notification: b.id, attempt, delayMs, err: error.message }, "delivery attempt failed; retrying");
        },
      },
    );
    const attempts = b.attemptsBefore + outcome.attempt;
    if (outcome.ok) {
      const at = Date.now();
      for (const item of b.items) {
        await store.update(ch, item.alert.id, { ...sendingState(attempts), state: "delivered" }, b.revisions.get(item)!);
        await store.putFingerprint(ch, item.alert.fingerprint, { status: item.alert.status, severity: item.alert.severity, alert_id: item.alert.id, notified_at: at });
        const latency = at - item.publishedAtMs;
        row(item, b.id, attempts, "delivered", "", outcome.value.status, latency);
        deps.metrics.deliveries.inc({ channel: ch, result: "delivered" });
        deps.metrics.latency.observe({ channel: ch }, latency / 1000);
        results.set(item, { ok: true });
      }
      return;
    }
    if (outcome.aborted) {
      for (const item of b.items) results.set(item, retryLater(`${ch}: stopping before the delivery finished`));
      return;
    }
    const detail = `${ch} (${channel.type}) gave up after ${attempts} attempt(s): ${outcome.error.message}`;
    for (const item of b.items) {
      await deps.deadLetter(item, detail);
      await store.update(ch, item.alert.id, { ...sendingState(attempts), state: "failed", reason: detail.slice(0, 2000) }, b.revisions.get(item)!);
      row(item, b.id, attempts, "failed", outcome.error.message, outcome.error.opts.status ?? null, null);
      deps.metrics.deliveries.inc({ channel: ch, result: "failed" });
      results.set(item, { ok: true });
    }
    deps.log.error({ channel: ch, notification: b.id, alerts: b.items.length, err: outcome.error.message }, "delivery failed; dead-lettered");
  } catch (err) {
    // The state store or the DLQ failed: leave the claims; the redelivery resends under the same id.
    for (const item of b.items) if (!results.has(item)) results.set(item, retryLater(`${ch}: ${errorMessage(err)}`));
    deps.log.warn({ channel: ch, notification: b.id, err }, "delivery bookkeeping failed; the alerts will be redelivered");
  }
}
