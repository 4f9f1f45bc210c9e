// Who may do what on NATS: the permissions of each costline role, as subjects
// a nats-server configuration allows. Pure data, derived from the subject
// prefix and the bucket names, so the embedded server, the compose
// configuration and the docs all say the same.
//
// Every role answers on its own inbox (`_INBOX.<user>.>`, see connect.ts): a
// wildcard on `_INBOX.>` would let one client read every reply, pull-consumer
// deliveries included (the priced events the ledger pulls, for instance).
import { notifyBuckets } from "./notify-buckets.ts";
import { kvBuckets, kvToken, partitionBuckets, streamNames, subjectToken } from "./subjects.ts";

export type RoleName = "pipeline" | "operator" | "publisher" | "producer";

export interface Permissions {
  publish: { allow: string[]; deny?: string[] };
  subscribe: { allow: string[]; deny?: string[] };
}

/** Nobody deletes or purges a stream through costline's roles; that is an administrator's act outside them. */
const destructive = ["$JS.API.STREAM.DELETE.>", "$JS.API.STREAM.PURGE.>"];

export const inboxOf = (user: string) => `_INBOX.${subjectToken(user)}`;

const kvStream = (bucket: string) => `KV_${bucket}`;

/**
 * What a guard reads from one bucket: open it (stream info), get a key (direct
 * get, the key in the subject) and watch keys (an ordered consumer whose filter
 * is part of the create subject, which the server checks against the request).
 * `keys` narrows all three to one tenant's keys ("acme.>"), or all of them (">").
 */
function guardReads(bucket: string, keys: string): string[] {
  const stream = kvStream(bucket);
  return [
    `$JS.API.STREAM.INFO.${stream}`,
    `$JS.API.DIRECT.GET.${stream}.$KV.${bucket}.${keys}`,
    `$JS.API.CONSUMER.CREATE.${stream}.*.$KV.${bucket}.${keys}`,
    // Flow control of the watch's push consumer: the client answers the server on these.
    `$JS.FC.${stream}.>`,
  ];
}

/**
 * What the guard of `tenant` (or of every tenant, when absent) reads, and the
 * one bucket it writes: its tenant's budget reservation counters (keys start
 * with the tenant's token, like the budgets they count against), updated by
 * compare-and-set on the revision.
 */
function guardPermissions(tenant?: string): string[] {
  const keys = tenant === undefined ? ">" : `${kvToken(tenant)}.>`;
  return [
    "$JS.API.INFO",
    ...guardReads(kvBuckets.controls, keys),
    ...guardReads(kvBuckets.budgets, keys),
    ...guardReads(kvBuckets.reservations, keys),
    `$KV.${kvBuckets.reservations}.${keys}`,
  ];
}

/** A producer of one tenant: its own events subject, and its guard's reads of that tenant's controls and budgets. */
export function producerPermissions(prefix: string, tenant: string, user: string): Permissions {
  return {
    publish: { allow: [`${prefix}.events.${subjectToken(tenant)}`, ...guardPermissions(tenant)] },
    subscribe: { allow: [`${inboxOf(user)}.>`] },
  };
}

/** The producer stack.json names (`costline publish`, the demo): every tenant's events subject. */
export function publisherPermissions(prefix: string, user: string): Permissions {
  return {
    publish: { allow: [`${prefix}.events.*`, ...guardPermissions()] },
    subscribe: { allow: [`${inboxOf(user)}.>`] },
  };
}

/**
 * The stages: apply the topology, consume and acknowledge, publish priced
 * events, windows, alerts and DLQ records, keep checkpoints and notifier state,
 * pause scopes (the detector writes controls). Never events (that is a
 * producer's), budgets or silences (an operator's).
 */
export function pipelinePermissions(prefix: string, user: string): Permissions {
  return {
    publish: {
      allow: [
        `${prefix}.priced.>`,
        `${prefix}.windows.>`,
        `${prefix}.alerts.>`,
        `${prefix}.dlq.>`,
        `$KV.${kvBuckets.controls}.>`,
        `$KV.${kvBuckets.checkpoints}.>`,
        `$KV.${kvBuckets.reservations}.>`,
        `$KV.${partitionBuckets.leases}.>`,
        `$KV.${partitionBuckets.windowState}.>`,
        `$KV.${partitionBuckets.detectorState}.>`,
        `$KV.${notifyBuckets.state}.>`,
        "$JS.API.>",
        "$JS.ACK.>",
        "$JS.FC.>",
      ],
      deny: [...destructive, `$JS.API.STREAM.MSG.DELETE.${streamNames.dlq}`],
    },
    subscribe: { allow: [`${inboxOf(user)}.>`] },
  };
}

/**
 * The API's writes and the CLI's tools: controls, budgets, silences, and the
 * DLQ (read, delete records, republish originals to any costline subject).
 */
export function operatorPermissions(prefix: string, user: string): Permissions {
  return {
    publish: {
      allow: [
        `${prefix}.>`,
        `$KV.${kvBuckets.controls}.>`,
        `$KV.${kvBuckets.budgets}.>`,
        `$KV.${notifyBuckets.silences}.>`,
        "$JS.API.>",
        "$JS.ACK.>",
        "$JS.FC.>",
      ],
      deny: destructive,
    },
    subscribe: { allow: [`${inboxOf(user)}.>`] },
  };
}
