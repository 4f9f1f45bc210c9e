// Turns findings into alerts with a lifecycle (alert hygiene):
// - one fingerprint per (type, series); while it fires, findings on later or
//   overlapping windows merge into it: it is not repeated within the cooldown
//   unless it got more severe;
// - it resolves only after `resolveWindows` consecutive final windows the
//   detector found normal (the engine adds hysteresis: a window between
//   firing and clearly normal fires nothing and breaks the row);
// - alerts of one type on one tenant's nested scopes (tenant, persona,
//   feature, model, operation) that fire while another is open share an
//   incident id, so a notifier can page once per incident.
import { createHash } from "node:crypto";
import type { Alert, WindowAggregate } from "../../schemas/index.ts";
import type { Finding } from "./detectors.ts";
import { alertFingerprint } from "../findings/finding.ts";

const rank = { info: 0, medium: 1, high: 2, critical: 3 } as const;

interface Firing {
  alert: Alert;
  lastSentAt: number;
  /** Consecutive normal final windows since it last fired, and the last one counted. */
  clears: number;
  lastClear?: string;
}

const hash = (s: string) => createHash("sha256").update(s).digest("hex").slice(0, 32);

export { alertFingerprint };

/** The book's whole state as plain data: what a detector checkpoint keeps, so a takeover does not alert again. */
export interface AlertBookSnapshot {
  firing: [string, Firing][];
  incidents: [string, { id: string; members: string[] }][];
}

export interface AlertBookOptions {
  cooldownMs: number;
  /** Consecutive normal final windows before an alert resolves (default 1). */
  resolveWindows?: number;
}

export function createAlertBook(opts: AlertBookOptions) {
  const firing = new Map<string, Firing>();
  const resolveWindows = Math.max(1, opts.resolveWindows ?? 1);
  /** Open incidents per tenant and type: their id and the fingerprints firing in them. */
  const incidents = new Map<string, { id: string; members: Set<string> }>();

  function base(
    series: string,
    w: WindowAggregate,
    f: Pick<Finding, "type">,
  ): Pick<Alert, "fingerprint" | "tenant" | "scope" | "scope_key"> {
    return { fingerprint: alertFingerprint(f.type, series), tenant: w.tenant, scope: w.scope, scope_key: w.key };
  }

  function joinIncident(a: Pick<Alert, "tenant" | "type" | "fingerprint" | "first_seen">): string {
    const k = `${a.tenant}\u0000${a.type}`;
    let inc = incidents.get(k);
    if (!inc) incidents.set(k, (inc = { id: hash(`incident|${k}|${a.first_seen}`), members: new Set() }));
    inc.members.add(a.fingerprint);
    return inc.id;
  }

  function leaveIncident(a: Pick<Alert, "tenant" | "type" | "fingerprint">): void {
    const k = `${a.tenant}\u0000${a.type}`;
    const inc = incidents.get(k);
    if (!inc) return;
    inc.members.delete(a.fingerprint);
    if (inc.members.size === 0) incidents.delete(k);
  }

  return {
    firingCount: () => firing.size,
    snapshot(): AlertBookSnapshot {
      return {
        firing: [...firing].map(([k, f]) => [k, { ...f }]),
        incidents: [...incidents].map(([k, inc]) => [k, { id: inc.id, members: [...inc.members] }]),
      };
    },
    /** Replaces the state with a snapshot's (a partition taken over from its checkpoint). */
    load(snap: AlertBookSnapshot): void {
      firing.clear();
      incidents.clear();
      for (const [k, f] of snap.firing) firing.set(k, { ...f });
      for (const [k, inc] of snap.incidents) incidents.set(k, { id: inc.id, members: new Set(inc.members) });
    },
    /** Forgets a firing alert whose series is gone (an idle post), without resolving it. */
    forget(fingerprint: string): void {
      const open = firing.get(fingerprint);
      if (open) leaveIncident(open.alert);
      firing.delete(fingerprint);
    },

    fire(series: string, w: WindowAggregate, f: Finding, evidence: Alert["evidence"], now: Date): Alert | null {
      const b = base(series, w, f);
      const open = firing.get(b.fingerprint);
      if (open) {
        // Still anomalous: the count towards resolving starts again.
        open.clears = 0;
        open.lastClear = undefined;
      }
      const moreSevere = open && rank[f.severity] > rank[open.alert.severity];
      if (open && !moreSevere && now.getTime() - open.lastSentAt < opts.cooldownMs) return null;
      const firstSeen = open?.alert.first_seen ?? now.toISOString();
      const incident = open?.alert.evidence.incident ?? joinIncident({ ...b, type: f.type, first_seen: firstSeen });
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
        message: evidence.cause ? `${f.message}; likely cause: ${evidence.cause}` : f.message,
        evidence: {
          ...evidence,
          ...(f.baseline ? { baseline: f.baseline } : {}),
          ...(f.detector ? { detector: f.detector } : {}),
          incident,
        },
      };
      firing.set(b.fingerprint, { alert, lastSentAt: now.getTime(), clears: 0 });
      return alert;
    },

    /** A final window still elevated, though not anomalous (hysteresis): the normal windows counted so far start again. */
    hold(series: string, type: Finding["type"]): void {
      const open = firing.get(alertFingerprint(type, series));
      if (open) {
        open.clears = 0;
        open.lastClear = undefined;
      }
    },

    /** A final window the detector found normal: resolves the alert once enough such windows came in a row. */
    resolve(series: string, w: WindowAggregate, type: Finding["type"], now: Date): Alert | null {
      const b = base(series, w, { type });
      const open = firing.get(b.fingerprint);
      // Only a window at or after the one that fired can say the series is normal again.
      if (!open || w.window_start < open.alert.window_start || (w.window_start === open.alert.window_start && !w.final)) return null;
      if (open.lastClear !== w.window_start) {
        open.clears++;
        open.lastClear = w.window_start;
      }
      if (open.clears < resolveWindows) return null;
      firing.delete(b.fingerprint);
      leaveIncident(open.alert);
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

const pct = (share: number) => `${Math.round(share * 100)} %`;

/** The likely cause, from the window itself: the top models, operations, posts and users by cost. */
export function windowEvidence(w: WindowAggregate, top = 3): Alert["evidence"] {
  const total = Number(w.cost_usd);
  const rankBy = (m: Record<string, string>) =>
    Object.entries(m)
      .map(([key, cost]) => ({ key, cost_usd: cost, share: total > 0 ? Math.min(1, Number((Number(cost) / total).toFixed(4))) : 0 }))
      .sort((a, b) => Number(b.cost_usd) - Number(a.cost_usd))
      .slice(0, top);
  const ev = {
    by_model: rankBy(w.by_model),
    by_operation: rankBy(w.by_operation),
    by_post: rankBy(w.top_posts ?? {}),
    by_user: rankBy(w.top_users ?? {}),
  };
  // The leading contributor of each dimension, when it carries a real share of the cost.
  const parts = (
    [
      ["model", ev.by_model[0]],
      ["operation", ev.by_operation[0]],
      ["post", ev.by_post[0]],
      ["user", ev.by_user[0]],
    ] as const
  )
    .filter(([, c]) => c && c.share >= 0.25)
    .map(([dim, c]) => `${dim} ${c!.key} (${pct(c!.share)} of cost)`);
  return parts.length ? { ...ev, cause: parts.join(", ") } : ev;
}
