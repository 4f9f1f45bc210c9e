// Sends one flushed group to one channel, exactly once per (alert, channel),
// under the (channel, fingerprint) locks:
//   1. each alert is checked against silences, inhibition, the repeat interval
//      and (for a resolve) whether the channel was told it fired;
//   2. a suppressed alert's record is created as `suppressed`; the others are
//      claimed (KV create) into notifications — one per group, or one per
//      alert for PagerDuty — under a notification id stable for those alerts;
//   3. where a record existed already (a redelivery), its state decides:
//      settled → nothing to do; claimed by a live process → come back later;
//      left `sending` by a dead one → resend that notification under its id;
//   4. the notifications are sent with retries (send-batch.ts), the delivery
//      log rows written, and each alert's message settled.
import { createHash } from "node:crypto";
import type { Alert, DeliveryRecord, DeliveryState, FingerprintState } from "../../schemas/index.ts";
import { errorMessage } from "../errors.ts";
import { decideClaim } from "./delivery-state.ts";
import type { AddRow, Batch, ChannelResult, DispatchDeps, GroupItem, GroupTarget } from "./dispatch-types.ts";
import { suppression } from "./suppression.ts";
import { retryLater, sendBatch } from "./send-batch.ts";

export type { AddRow, Batch, ChannelResult, DispatchDeps, GroupItem, GroupTarget } from "./dispatch-types.ts";

/** The notification id: the same for the same channel and alerts, so a resend carries the same idempotency key. */
export const notificationId = (channel: string, alertIds: readonly string[]): string =>
  createHash("sha256")
    .update(`${channel}\u0000${[...alertIds].sort().join("\u0000")}`)
    .digest("hex")
    .slice(0, 32);

/** Returns true when a notification was sent (whatever the answer), false when there was nothing to send. */
export async function dispatchGroup(deps: DispatchDeps, group: GroupTarget, items: GroupItem[]): Promise<boolean> {
  const { channel, store, owner } = deps;
  const ch = channel.name;
  const results = new Map<GroupItem, ChannelResult>();
  const rows: DeliveryRecord[] = [];
  const row: AddRow = (item, nid, attempt, result, reason, status, latencyMs) =>
    void rows.push({
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
    /** Fingerprints this flush tells the channel about, and as what. */
    const told = new Map<string, Alert["status"]>();
    // What the channel was last told about each fingerprint, read once for the flush.
    const fingerprints = [...new Set(items.map((i) => i.alert.fingerprint))];
    let lastTold: Map<string, FingerprintState | null>;
    try {
      lastTold = new Map(await Promise.all(fingerprints.map(async (fp) => [fp, await store.getFingerprint(ch, fp)] as const)));
    } catch (err) {
      for (const item of items) results.set(item, retryLater(`${ch}: delivery state unavailable: ${errorMessage(err)}`));
      return false;
    }

    // The common case costs one KV write before sending: the claim (or the
    // suppression record) is created outright. Only when a record exists
    // already — a redelivery — is it read, and its state decides.
    const fresh: GroupItem[] = [];
    const suppressed: { item: GroupItem; why: string }[] = [];
    for (const item of items) {
      const why = suppression(deps, group, item, told, lastTold.get(item.alert.fingerprint) ?? null, now);
      if (why) suppressed.push({ item, why });
      else {
        fresh.push(item);
        told.set(item.alert.fingerprint, item.alert.status);
      }
    }
    const existing = new Set<GroupItem>();
    await Promise.all(
      suppressed.map(async ({ item, why }) => {
        const a = item.alert;
        try {
          const nid = notificationId(ch, [a.id]);
          if ((await store.create(ch, a.id, claimState(nid, 0, "suppressed", why))) === null) return void existing.add(item);
          // A muted resolve still closes the episode, so the next firing is news again.
          if (a.status === "resolved" && lastTold.get(a.fingerprint)?.status === "firing")
            await store.putFingerprint(ch, a.fingerprint, { status: "resolved", severity: a.severity, alert_id: a.id, notified_at: now });
          row(item, nid, 0, "suppressed", why, null, null);
          deps.metrics.deliveries.inc({ channel: ch, result: "suppressed" });
          results.set(item, { ok: true });
        } catch (err) {
          results.set(item, retryLater(`${ch}: delivery state unavailable: ${errorMessage(err)}`));
        }
      }),
    );
    const claimed: Batch[] = [];
    for (const chunk of channel.batchable ? (fresh.length ? [fresh] : []) : fresh.map((i) => [i])) {
      const b: Batch = {
        id: notificationId(
          ch,
          chunk.map((i) => i.alert.id),
        ),
        items: [],
        revisions: new Map(),
        attemptsBefore: 0,
      };
      await Promise.all(
        chunk.map(async (item) => {
          try {
            const rev = await store.create(ch, item.alert.id, claimState(b.id, 1));
            if (rev === null) existing.add(item);
            else b.revisions.set(item, rev);
          } catch (err) {
            results.set(item, retryLater(`${ch}: could not claim ${item.alert.id}: ${errorMessage(err)}`));
          }
        }),
      );
      b.items = chunk.filter((i) => b.revisions.has(i));
      if (b.items.length) claimed.push(b);
    }

    // Records that were there already: settled, held by another live notifier, or left by a dead one.
    const resend = new Map<string, Batch>();
    for (const item of items.filter((i) => existing.has(i))) {
      const a = item.alert;
      try {
        const d = decideClaim(await store.get(ch, a.id), now, owner);
        if (d.kind === "settled") {
          results.set(item, { ok: true });
        } else if (d.kind === "busy") {
          results.set(
            item,
            retryLater(`another notifier holds the delivery of ${a.id} on ${ch} until ${new Date(d.untilMs).toISOString()}`),
          );
        } else if (d.kind === "fresh") {
          results.set(item, retryLater(`${ch}: the record of ${a.id} vanished while claiming it`));
        } else if (channel.onUncertain === "skip") {
          const prev = d.current.value;
          const detail = `${ch}: a notifier stopped between sending notification ${prev.notification_id} and recording the answer; not resent (on_uncertain: skip)`;
          await deps.deadLetter(item, detail);
          await store.update(ch, a.id, claimState(prev.notification_id, prev.attempts, "failed", detail), d.current.revision);
          row(item, prev.notification_id, prev.attempts, "failed", detail, null, null);
          deps.metrics.deliveries.inc({ channel: ch, result: "failed" });
          results.set(item, { ok: true });
        } else {
          const prev = d.current.value;
          const rev = await store.update(ch, a.id, claimState(prev.notification_id, prev.attempts + 1), d.current.revision);
          let b = resend.get(prev.notification_id);
          if (!b)
            resend.set(
              prev.notification_id,
              (b = { id: prev.notification_id, items: [], revisions: new Map(), attemptsBefore: prev.attempts }),
            );
          b.items.push(item);
          b.revisions.set(item, rev);
        }
      } catch (err) {
        results.set(item, retryLater(`${ch}: delivery state unavailable: ${errorMessage(err)}`));
      }
    }
    const batches = [...resend.values(), ...claimed];

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
        for (const b of chain) await sendBatch(deps, group, b, results, row);
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
