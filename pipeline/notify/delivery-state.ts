// Durable state of every (alert, channel) delivery and every (fingerprint,
// channel) notification, in the costline-notify KV bucket. A delivery is
// claimed with create() before anything is sent (so two processes never both
// start it) and settled with update() at the claim's revision (so a process
// that lost its claim cannot overwrite the one that took it over).
import { JetStreamApiCodes, JetStreamApiError } from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import { deliveryStateSchema, fingerprintStateSchema, type DeliveryState, type FingerprintState } from "../../schemas/index.ts";
import { kvToken } from "../nats/subjects.ts";

export interface Versioned<T> {
  value: T;
  revision: number;
}

export type ClaimDecision =
  | { kind: "fresh" }
  /** Delivered, failed (dead-lettered) or suppressed already: nothing more to do. */
  | { kind: "settled"; state: DeliveryState }
  /** Another live process holds the claim: come back after its lease. */
  | { kind: "busy"; untilMs: number }
  /** A claim nobody is working on: a process died (or gave up) between claiming and recording the answer. */
  | { kind: "uncertain"; current: Versioned<DeliveryState> };

/** What to do with an (alert, channel) given its stored state. Pure. */
export function decideClaim(current: Versioned<DeliveryState> | null, now: number, owner: string): ClaimDecision {
  if (!current) return { kind: "fresh" };
  const s = current.value;
  if (s.state !== "sending") return { kind: "settled", state: s };
  // Our own claim is never in flight here: the caller holds the (channel, fingerprint) lock.
  if (s.owner !== owner && s.lease_until > now) return { kind: "busy", untilMs: s.lease_until };
  return { kind: "uncertain", current };
}

export const deliveryKey = (channel: string, alertId: string) => `d.${kvToken(channel)}.${kvToken(alertId)}`;
export const fingerprintKey = (channel: string, fingerprint: string) => `f.${kvToken(channel)}.${kvToken(fingerprint)}`;

export class ClaimLostError extends Error {}

/** The write lost a compare-and-set: the key is not at the revision we expected. */
const wrongRevision = (err: unknown) =>
  err instanceof JetStreamApiError &&
  (err.code === JetStreamApiCodes.StreamWrongLastSequence || err.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown);

export function createDeliveryStore(kv: KV) {
  async function read<T>(key: string, parse: (v: unknown) => T): Promise<Versioned<T> | null> {
    const e = await kv.get(key);
    if (!e || e.operation !== "PUT" || e.value.length === 0) return null;
    return { value: parse(e.json()), revision: e.revision };
  }

  return {
    get: (channel: string, alertId: string) => read(deliveryKey(channel, alertId), (v) => deliveryStateSchema.parse(v)),

    /** Creates the record; null when one exists already (someone else got there first). */
    async create(channel: string, alertId: string, state: DeliveryState): Promise<number | null> {
      try {
        return await kv.create(deliveryKey(channel, alertId), JSON.stringify(state));
      } catch (err) {
        if (wrongRevision(err)) return null;
        throw err;
      }
    },

    /** Replaces the record at `revision`; ClaimLostError when another process changed it meanwhile. */
    async update(channel: string, alertId: string, state: DeliveryState, revision: number): Promise<number> {
      try {
        return await kv.update(deliveryKey(channel, alertId), JSON.stringify(state), revision);
      } catch (err) {
        if (wrongRevision(err)) throw new ClaimLostError(`claim on ${channel}/${alertId} was taken over`);
        throw err;
      }
    },

    getFingerprint: (channel: string, fingerprint: string) =>
      read(fingerprintKey(channel, fingerprint), (v) => fingerprintStateSchema.parse(v)).then((r) => r?.value ?? null),

    async putFingerprint(channel: string, fingerprint: string, state: FingerprintState): Promise<void> {
      await kv.put(fingerprintKey(channel, fingerprint), JSON.stringify(state));
    },
  };
}
export type DeliveryStore = ReturnType<typeof createDeliveryStore>;
