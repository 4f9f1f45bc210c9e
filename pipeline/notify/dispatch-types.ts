// The shapes dispatch.ts and its helpers (suppression.ts, send-batch.ts) share,
// apart from dispatch.ts so the helpers import them without importing it back.
import type { JsMsg } from "@nats-io/jetstream";
import type { Alert, DeliveryRecord } from "../../schemas/index.ts";
import type { TransientError } from "../errors.ts";
import type { Logger } from "../observability/log.ts";
import type { Channel } from "./channel.ts";
import type { DeliveryStore } from "./delivery-state.ts";
import type { DeliveryLog } from "./delivery-log.ts";
import type { KeyedLock } from "./keyed-lock.ts";
import type { Labels } from "./labels.ts";
import type { NotifyMetrics } from "./notify-metrics.ts";
import type { RetryPolicy } from "./retry.ts";

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

export interface Batch {
  id: string;
  items: GroupItem[];
  /** Each item's claim revision. */
  revisions: Map<GroupItem, number>;
  /** Attempts started before this process took the claim (a resend continues the count). */
  attemptsBefore: number;
}

/** Adds one delivery log row. */
export type AddRow = (
  item: GroupItem,
  nid: string,
  attempt: number,
  result: DeliveryRecord["result"],
  reason: string,
  status: number | null,
  latencyMs: number | null,
) => void;
