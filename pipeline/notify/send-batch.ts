// Sends one claimed notification with retries and records the answer: on a
// 2xx every alert's claim becomes `delivered` (at the claim's revision) and the
// channel's last word per fingerprint is stored; after the last retry each
// alert is dead-lettered with the channel's error and marked `failed`; on a
// stop the claims stay, and the redelivered alerts resend under the same id.
import type { DeliveryState } from "../../schemas/index.ts";
import { TransientError, errorMessage } from "../errors.ts";
import type { Notification } from "./channel.ts";
import type { AddRow, Batch, ChannelResult, DispatchDeps, GroupItem, GroupTarget } from "./dispatch-types.ts";
import { withRetries, type DeliveryError } from "./retry.ts";

export const retryLater = (why: string): ChannelResult => ({ ok: false, error: new TransientError("unavailable", why) });

export async function sendBatch(
  deps: DispatchDeps,
  group: GroupTarget,
  b: Batch,
  results: Map<GroupItem, ChannelResult>,
  row: AddRow,
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
        if (attempt > 1)
          for (const item of b.items)
            b.revisions.set(item, await store.update(ch, item.alert.id, sendingState(b.attemptsBefore + attempt), b.revisions.get(item)!));
        return channel.send(n, deps.requestSignal);
      },
      deps.retry,
      {
        signal: deps.stopSignal,
        onRetry: (attempt, error: DeliveryError, delayMs) => {
          for (const item of b.items)
            row(
              item,
              b.id,
              b.attemptsBefore + attempt,
              "retried",
              `${error.message}; next attempt in ${delayMs} ms`,
              error.opts.status ?? null,
              null,
            );
          deps.metrics.deliveries.inc({ channel: ch, result: "retried" }, b.items.length);
          deps.log.warn({ channel: ch, notification: b.id, attempt, delayMs, err: error.message }, "delivery attempt failed; retrying");
        },
      },
    );
    const attempts = b.attemptsBefore + outcome.attempt;
    if (outcome.ok) {
      const at = Date.now();
      // The channel's last word per fingerprint is the last of its alerts in this notification (a resolve after its trigger).
      const lastWord = new Map(b.items.map((i) => [i.alert.fingerprint, i.alert] as const));
      await Promise.all([
        ...b.items.map((item) =>
          store.update(ch, item.alert.id, { ...sendingState(attempts), state: "delivered" }, b.revisions.get(item)!),
        ),
        ...[...lastWord].map(([fp, a]) =>
          store.putFingerprint(ch, fp, { status: a.status, severity: a.severity, alert_id: a.id, notified_at: at }),
        ),
      ]);
      for (const item of b.items) {
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
      await store.update(
        ch,
        item.alert.id,
        { ...sendingState(attempts), state: "failed", reason: detail.slice(0, 2000) },
        b.revisions.get(item)!,
      );
      row(item, b.id, attempts, "failed", outcome.error.message, outcome.error.opts.status ?? null, null);
      deps.metrics.deliveries.inc({ channel: ch, result: "failed" });
      results.set(item, { ok: true });
    }
    deps.log.error(
      { channel: ch, notification: b.id, alerts: b.items.length, err: outcome.error.message },
      "delivery failed; dead-lettered",
    );
  } catch (err) {
    // The state store or the DLQ failed: leave the claims; the redelivery resends under the same id.
    for (const item of b.items) if (!results.has(item)) results.set(item, retryLater(`${ch}: ${errorMessage(err)}`));
    deps.log.warn({ channel: ch, notification: b.id, err }, "delivery bookkeeping failed; the alerts will be redelivered");
  }
}
