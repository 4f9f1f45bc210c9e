// Generic webhooks: the notification as JSON (schemas/json/notify-webhook-payload.schema.json),
// signed so the receiver can tell it came from us and is fresh:
//   X-Costline-Timestamp: <unix seconds>
//   X-Costline-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>
//   Idempotency-Key: <notification id>   (the same on every retry and resend)
// A receiver verifies with verifyWebhookSignature and drops repeated keys:
//
//   import { verifyWebhookSignature } from "costline/webhook";
//   const ok = verifyWebhookSignature(secret, {
//     timestamp: req.headers["x-costline-timestamp"], signature: req.headers["x-costline-signature"] }, rawBody);
import { createHmac, timingSafeEqual } from "node:crypto";
import type { WebhookPayload } from "../../schemas/index.ts";
import type { Channel, Notification } from "./channel.ts";
import { postJson } from "./http-post.ts";
import type { ResolvedChannel } from "../config/notify-config.ts";

export const signWebhook = (secret: string, timestamp: string, body: string): string =>
  `v1=${createHmac("sha256", secret).update(`${timestamp}.${body}`).digest("hex")}`;

/** For receivers: true when the signature matches and the timestamp is within `toleranceS` of now. */
export function verifyWebhookSignature(
  secret: string,
  headers: { timestamp: string | undefined | null; signature: string | undefined | null },
  body: string,
  toleranceS = 300,
  now = Date.now(),
): boolean {
  const { timestamp, signature } = headers;
  if (!timestamp || !signature || !/^\d+$/.test(timestamp)) return false;
  if (Math.abs(now / 1000 - Number(timestamp)) > toleranceS) return false;
  const want = Buffer.from(signWebhook(secret, timestamp, body));
  const got = Buffer.from(signature);
  return want.length === got.length && timingSafeEqual(want, got);
}

export function webhookPayload(n: Notification, now = new Date()): WebhookPayload {
  return {
    version: "1",
    notification_id: n.id,
    channel: n.channel,
    group_key: n.groupKey,
    group_labels: n.groupLabels,
    status: n.alerts.some((a) => a.status === "firing") ? "firing" : "resolved",
    alerts: n.alerts,
    sent_at: now.toISOString(),
  };
}

/**
 * The body as sent: JSON keeps every name exact (receivers match on them), and
 * U+2028/U+2029, legal in JSON but line breaks to JavaScript and some log
 * pipelines, are written as escapes. No value of an alert reaches a header.
 */
export function webhookBody(n: Notification, now = new Date()): string {
  return JSON.stringify(webhookPayload(n, now)).replace(/[\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16)}`);
}

export function createWebhookChannel(c: Extract<ResolvedChannel, { type: "webhook" }>, opts: { timeoutMs: number }): Channel {
  return {
    name: c.name,
    type: "webhook",
    batchable: true,
    sendResolved: c.sendResolved,
    onUncertain: c.onUncertain,
    async send(n, signal) {
      const body = webhookBody(n);
      const timestamp = String(Math.floor(Date.now() / 1000));
      const headers: Record<string, string> = {
        ...c.headers,
        "idempotency-key": n.id,
        "x-costline-timestamp": timestamp,
        "user-agent": "costline-notifier",
      };
      if (c.secret) headers["x-costline-signature"] = signWebhook(c.secret, timestamp, body);
      const res = await postJson(c.url, body, { headers, timeoutMs: opts.timeoutMs, signal, secrets: c.secret ? [c.secret] : [] });
      return { status: res.status };
    },
  };
}
