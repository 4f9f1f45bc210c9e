// Whether a channel should hear about an alert: not while a silence matches
// it, not while a firing critical alert of its scope inhibits it, not again
// within the repeat interval (unless it got worse), and a resolve only where
// the firing alert was told. Returns the reason as written to the delivery log.
import type { Alert, FingerprintState } from "../../schemas/index.ts";
import type { DispatchDeps, GroupItem, GroupTarget } from "./dispatch-types.ts";
import { severityRank } from "./labels.ts";

/**
 * Why this channel should not hear about the alert, or undefined to send it.
 * `last` is what the channel was last told about the alert's fingerprint;
 * `told` holds the fingerprints the current flush is about to send, which
 * `last` does not know yet. Pure.
 */
export function suppression(
  deps: Pick<DispatchDeps, "channel" | "silencedBy" | "inhibitedBy">,
  group: Pick<GroupTarget, "repeatIntervalMs">,
  item: Pick<GroupItem, "alert" | "labels">,
  told: ReadonlyMap<string, Alert["status"]>,
  last: FingerprintState | null,
  now: number,
): string | undefined {
  const { alert: a, labels } = item;
  const silence = deps.silencedBy(labels, now);
  if (silence) return `silenced:${silence.id}`;
  const inTheFlush = told.get(a.fingerprint);
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
