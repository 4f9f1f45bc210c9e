// Inhibition: a firing alert matching a rule's source mutes firing alerts
// matching its target when the rule's `equal` labels agree (by default a
// critical alert mutes lower ones on the same scope). Firing sources are kept
// in the costline-notify bucket (key i.<fingerprint>) so a restart or another
// notifier instance sees them; a resolved alert leaves a tombstone so that a
// late redelivery of its firing alert does not bring it back, and a source
// the detector has not confirmed for `maxAgeMs` stops inhibiting.
import type { KV } from "@nats-io/kv";
import { inhibitorSchema, type Alert, type InhibitRule, type Inhibitor } from "../../schemas/index.ts";
import { kvToken } from "../nats/subjects.ts";
import { matchesAll, type Labels } from "./labels.ts";
import { watchKv } from "./kv-buckets.ts";

const inhibitorKey = (fingerprint: string) => `i.${kvToken(fingerprint)}`;

/** The firing source that mutes `target`, if any. Pure. */
export function inhibitedBy(
  rules: readonly InhibitRule[],
  sources: Iterable<Inhibitor>,
  target: Alert,
  labels: Labels,
  now: number,
  maxAgeMs: number,
): Inhibitor | undefined {
  if (target.status !== "firing") return undefined;
  const applicable = rules.filter((r) => matchesAll(r.target, labels));
  if (applicable.length === 0) return undefined;
  for (const src of sources) {
    if (src.status !== "firing" || src.fingerprint === target.fingerprint || now - src.seen_at > maxAgeMs) continue;
    for (const r of applicable)
      if (matchesAll(r.source, src.labels) && r.equal.every((l) => (src.labels[l] ?? "") === (labels[l] ?? ""))) return src;
  }
  return undefined;
}

export async function createInhibition(deps: {
  kv: KV;
  rules: readonly InhibitRule[];
  maxAgeMs: number;
  onInvalid: (key: string, err: unknown) => void;
}) {
  const w = await watchKv(deps.kv, "i.>", (v) => inhibitorSchema.parse(v), deps.onInvalid);
  const isSource = (labels: Labels) => deps.rules.some((r) => matchesAll(r.source, labels));

  return {
    /** Records an arriving alert that can inhibit others (firing) or stops it (resolved). Idempotent. */
    async observe(alert: Alert, labels: Labels, now = Date.now()): Promise<void> {
      const key = inhibitorKey(alert.fingerprint);
      const known = w.items.get(key);
      if (alert.status === "firing") {
        if (!isSource(labels)) return;
        // A redelivered firing alert older than its resolve stays resolved.
        if (known && known.detected_at > alert.detected_at) return;
        const entry: Inhibitor = {
          fingerprint: alert.fingerprint,
          status: "firing",
          labels: { ...labels },
          detected_at: alert.detected_at,
          seen_at: now,
        };
        w.items.set(key, entry);
        await deps.kv.put(key, JSON.stringify(entry));
      } else if (known && known.detected_at <= alert.detected_at) {
        const entry: Inhibitor = { ...known, status: "resolved", detected_at: alert.detected_at, seen_at: now };
        w.items.set(key, entry);
        await deps.kv.put(key, JSON.stringify(entry));
      }
    },
    inhibitedBy: (target: Alert, labels: Labels, now = Date.now()) =>
      inhibitedBy(deps.rules, w.items.values(), target, labels, now, deps.maxAgeMs),
    stop: w.stop,
  };
}
export type Inhibition = Awaited<ReturnType<typeof createInhibition>>;
