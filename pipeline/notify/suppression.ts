// Whether a channel should hear about an alert: not while a silence matches
// it, not while a firing critical alert of its scope inhibits it, not again
// within the repeat interval (unless it got worse), and a resolve only where
// the firing alert was told. Returns the reason as written to the delivery log.
import type { Alert } from "../../schemas/index.ts";
import type { DispatchDeps, GroupItem, GroupTarget } from "./dispatch.ts";
import { severityRank } from "./labels.ts";

/**
 * Why this channel should not hear about the alert, or undefined to send it.
 * `told` holds the fingerprints the current flush is about to send, which the
 * stored state does not know yet.
 */
export async function suppression(
  deps: Pick<DispatchDeps, "channel" | "store" | "silencedBy" | "inhibitedBy">,
  group: Pick<GroupTarget, "repeatIntervalMs">,
  item: Pick<GroupItem, "alert" | "labels">,
  told: ReadonlyMap<string, Alert["status"]>,
  now: number,
): Promise<string | undefined> {
  const { alert: a, labels } = item;
  const ch = deps.channel.name;
  const silence = deps.silencedBy(labels, now);
  const inTheFlush = told.get(a.fingerprint);
  const last = inTheFlush ? null : await deps.store.getFingerprint(ch, a.fingerprint);
  if (silence) {
    // A muted resolve still closes the episode, so the next firing is news again.
    if (a.status === "resolved" && last?.status === "firing")
      await deps.store.putFingerprint(ch, a.fingerprint, { status: "resolved", severity: a.severity, alert_id: a.id, notified_at: now });
    return `silenced:${silence.id}`;
  }
  if (a.status === "firing") {
    const source = deps.inhibitedBy(a, labels, now);
    if (source) return `inhibited:${source.fingerprint}`;
    if (
      !inTheFlush &&
      last?.status === "firing" &&
      last.alert_id !== a.id &&
      (severityRank[a.severity] ?? 0) <= (severityRank[last.severity] ?? 0) &&
      now - last.notified_at < group.repeatIntervalMs
    )
      return "repeat_interval";
    return undefined;
  }
  if (!deps.channel.sendResolved) return "send_resolved_off";
  if (inTheFlush !== "firing" && last?.status !== "firing") return "not_notified";
  return undefined;
}
