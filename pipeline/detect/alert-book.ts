// Turns findings into alerts with a lifecycle: one fingerprint per (type,
// series); a firing alert is not repeated within the cooldown unless it got
// more severe; when the detector finds the series normal again, a resolved
// alert closes it.
import { createHash } from "node:crypto";
import type { Alert, WindowAggregate } from "../../schemas/index.ts";
import type { Finding } from "./detectors.ts";

const rank = { info: 0, medium: 1, high: 2, critical: 3 } as const;

interface Firing {
  alert: Alert;
  lastSentAt: number;
}

const hash = (s: string) => createHash("sha256").update(s).digest("hex").slice(0, 32);

/** One alert lifecycle's identity: the same detector type on the same series. */
export const alertFingerprint = (type: string, series: string) => hash(`${type}|${series}`);

export function createAlertBook(opts: { cooldownMs: number }) {
  const firing = new Map<string, Firing>();

  function base(series: string, w: WindowAggregate, f: Pick<Finding, "type">): Pick<Alert, "fingerprint" | "tenant" | "scope" | "scope_key"> {
    return { fingerprint: alertFingerprint(f.type, series), tenant: w.tenant, scope: w.scope, scope_key: w.key };
  }

  return {
    firingCount: () => firing.size,
    /** Forgets a firing alert whose series is gone (an idle post), without resolving it. */
    forget(fingerprint: string): void {
      firing.delete(fingerprint);
    },

    fire(series: string, w: WindowAggregate, f: Finding, evidence: Alert["evidence"], now: Date): Alert | null {
      const b = base(series, w, f);
      const open = firing.get(b.fingerprint);
      const moreSevere = open && rank[f.severity] > rank[open.alert.severity];
      if (open && !moreSevere && now.getTime() - open.lastSentAt < opts.cooldownMs) return null;
      const firstSeen = open?.alert.first_seen ?? now.toISOString();
      const alert: Alert = {
        ...b,
        id: hash(`${b.fingerprint}|${firstSeen}|${f.severity}|${now.toISOString()}`),
        type: f.type,
        severity: f.severity,
        status: "firing",
        observed: f.observed,
        expected: f.expected,
        multiplier: f.multiplier,
        score: f.score,
        window_start: w.window_start,
        window_end: w.window_end,
        first_seen: firstSeen,
        detected_at: now.toISOString(),
        message: f.message,
        evidence,
      };
      firing.set(b.fingerprint, { alert, lastSentAt: now.getTime() });
      return alert;
    },

    resolve(series: string, w: WindowAggregate, type: Finding["type"], now: Date): Alert | null {
      const b = base(series, w, { type });
      const open = firing.get(b.fingerprint);
      // Only a window at or after the one that fired can say the series is normal again.
      if (!open || w.window_start < open.alert.window_start || (w.window_start === open.alert.window_start && !w.final)) return null;
      firing.delete(b.fingerprint);
      return {
        ...open.alert,
        id: hash(`${b.fingerprint}|${open.alert.first_seen}|resolved`),
        status: "resolved",
        window_start: w.window_start,
        window_end: w.window_end,
        detected_at: now.toISOString(),
        message: `back to normal: ${open.alert.message}`,
      };
    },
  };
}
export type AlertBook = ReturnType<typeof createAlertBook>;

/** The likely cause, from the window itself: the top models, operations, posts and users by cost. */
export function windowEvidence(w: WindowAggregate, top = 3): Alert["evidence"] {
  const total = Number(w.cost_usd);
  const rankBy = (m: Record<string, string>) =>
    Object.entries(m)
      .map(([key, cost]) => ({ key, cost_usd: cost, share: total > 0 ? Math.min(1, Number((Number(cost) / total).toFixed(4))) : 0 }))
      .sort((a, b) => Number(b.cost_usd) - Number(a.cost_usd))
      .slice(0, top);
  return { by_model: rankBy(w.by_model), by_operation: rankBy(w.by_operation), by_post: rankBy(w.top_posts ?? {}), by_user: rankBy(w.top_users ?? {}) };
}
