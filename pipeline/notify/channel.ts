// What every channel client offers the dispatcher: send one notification (one
// or more alerts of a group) and answer, or throw a DeliveryError saying
// whether another attempt can help. `batchable: false` channels (PagerDuty)
// take one alert per notification.
import type { Alert } from "../../schemas/index.ts";
import type { ChannelType } from "../config/notify-config.ts";

export interface Notification {
  /** Stable for the same (channel, alerts): the idempotency key on every retry and resend. */
  id: string;
  channel: string;
  groupKey: string;
  groupLabels: Record<string, string>;
  alerts: Alert[];
}

export interface SendResult {
  /** The receiver's status (HTTP status, SMTP reply code). */
  status: number | null;
}

export interface Channel {
  name: string;
  type: ChannelType;
  batchable: boolean;
  sendResolved: boolean;
  onUncertain: "resend" | "skip";
  send(n: Notification, signal: AbortSignal): Promise<SendResult>;
  close?(): Promise<void>;
}
