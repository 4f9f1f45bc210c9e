// What each channel puts on the wire: Slack Block Kit, PagerDuty Events v2
// trigger and resolve, the signed webhook, the e-mail; and how HTTP answers
// are classified for retries.
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { describe, expect, it } from "vitest";
import { pagerdutyEvent } from "../../pipeline/notify/channel-pagerduty.ts";
import { slackMessage } from "../../pipeline/notify/channel-slack.ts";
import { signWebhook, verifyWebhookSignature, webhookPayload } from "../../pipeline/notify/channel-webhook.ts";
import { emailMessage } from "../../pipeline/notify/channel-email.ts";
import { notificationId } from "../../pipeline/notify/dispatch.ts";
import { postJson } from "../../pipeline/notify/http-post.ts";
import { DeliveryError } from "../../pipeline/notify/retry.ts";
import { money } from "../../pipeline/notify/render.ts";
import { webhookPayloadSchema } from "../../schemas/index.ts";
import { createEmailChannel } from "../../pipeline/notify/channel-email.ts";
import { resolveNotifyConfig } from "../../pipeline/config/notify-config.ts";
import { makeAlert, startSmtpReceiver } from "../integration/notifier-receivers.ts";

const links = [{ text: "Dashboard", url: "https://grafana.example.com/d/c?var-tenant={tenant}&p={persona_id}" }];
const alert = makeAlert({ tenant: "acme & co", severity: "critical", persona: "ai_jesus" });
const note = (alerts = [alert]) => ({
  id: notificationId(
    "slack",
    alerts.map((a) => a.id),
  ),
  channel: "slack",
  groupKey: "k",
  groupLabels: { tenant: "acme & co", type: "spike" },
  alerts,
});

describe("Slack", () => {
  it("shows observed vs expected, the likely cause and the links in Block Kit", () => {
    const m = slackMessage(note(), links) as {
      text: string;
      blocks: { type: string; text?: { text: string }; fields?: { text: string }[]; elements?: { text: string }[] }[];
    };
    // `text` is mrkdwn: Slack's control characters are escaped (Slack shows "&amp;" as "&").
    expect(m.text).toBe("[CRITICAL] spike · acme &amp; co · persona_id=ai_jesus: observed $12.50 vs expected $1.25 (10.0×)");
    expect(m.blocks[0]!.type).toBe("header");
    expect(m.blocks[2]!.fields!.map((f) => f.text)).toEqual([
      "*Observed*\n$12.50",
      "*Expected*\n$1.25",
      "*Multiplier*\n10.00×",
      expect.stringContaining("*Window*"),
    ]);
    expect(m.blocks[3]!.text!.text).toBe(
      "*Likely cause:* model gpt-4o (81 %, $10.10), operation hook_generation (72 %, $9.00), post post-loop (60 %, $7.50), user u-17 (48 %, $6.00)",
    );
    expect(m.blocks[4]!.elements![0]!.text).toBe("<https://grafana.example.com/d/c?var-tenant=acme%20%26%20co&amp;p=ai_jesus|Dashboard>");
  });

  it("keeps a large group within Slack's 50 blocks", () => {
    const many = Array.from({ length: 40 }, (_, i) => makeAlert({ tenant: "acme", persona: `p-${i}` }));
    const m = slackMessage(note(many), links) as { text: string; blocks: unknown[] };
    expect(m.blocks.length).toBeLessThanOrEqual(50);
    expect(m.text).toBe("[costline] 40 firing · acme &amp; co · spike");
    expect(JSON.stringify(m.blocks.at(-1))).toContain("and 28 more alerts");
  });
});

describe("PagerDuty", () => {
  it("triggers with the fingerprint as dedup key and resolves with the same key", () => {
    const t = pagerdutyEvent(alert, "rk", links) as {
      dedup_key: string;
      event_action: string;
      payload: Record<string, unknown>;
      links: unknown[];
    };
    expect(t).toMatchObject({ routing_key: "rk", event_action: "trigger", dedup_key: alert.fingerprint });
    expect(t.payload).toMatchObject({
      severity: "critical",
      source: "costline/acme & co",
      class: "spike",
      component: "tenant_persona",
      timestamp: alert.detected_at,
    });
    expect(t.links).toEqual([{ href: "https://grafana.example.com/d/c?var-tenant=acme%20%26%20co&p=ai_jesus", text: "Dashboard" }]);
    expect(pagerdutyEvent({ ...alert, severity: "medium" }, "rk", [])).toMatchObject({ payload: { severity: "warning" } });
    expect(pagerdutyEvent({ ...alert, status: "resolved" }, "rk", links)).toEqual({
      routing_key: "rk",
      event_action: "resolve",
      dedup_key: alert.fingerprint,
    });
  });
});

describe("webhook", () => {
  it("signs timestamp and body, and the payload follows its schema", () => {
    const body = JSON.stringify(webhookPayload(note()));
    expect(webhookPayloadSchema.safeParse(JSON.parse(body)).success).toBe(true);
    const ts = String(Math.floor(Date.now() / 1000));
    const sig = signWebhook("k", ts, body);
    expect(sig).toMatch(/^v1=[0-9a-f]{64}$/);
    expect(verifyWebhookSignature("k", { timestamp: ts, signature: sig }, body)).toBe(true);
    expect(verifyWebhookSignature("k", { timestamp: String(Number(ts) + 1), signature: sig }, body)).toBe(false);
    expect(verifyWebhookSignature("k", { timestamp: ts, signature: sig }, body, 300, Date.now() + 600_000)).toBe(false);
  });

  it("names a notification by its channel and alerts, whatever their order", () => {
    expect(notificationId("c", ["a", "b"])).toBe(notificationId("c", ["b", "a"]));
    expect(notificationId("c", ["a"])).not.toBe(notificationId("d", ["a"]));
  });
});

describe("e-mail", () => {
  it("has a subject with the severity and a text and HTML body with the figures", () => {
    const m = emailMessage(note(), links);
    expect(m.subject).toBe("[costline] [CRITICAL] spike · acme & co · persona_id=ai_jesus: observed $12.50 vs expected $1.25 (10.0×)");
    expect(m.text).toContain("Observed: $12.50");
    expect(m.text).toContain("Likely cause: model gpt-4o");
    expect(m.html).toContain("acme &#38; co");
    expect(m.html).toContain('<a href="https://grafana.example.com/d/c?var-tenant=acme%20%26%20co&#38;p=ai_jesus">');
  });

  it("sends through an smtp:// URL, as COSTLINE_SMTP_URL configures it, with a stable Message-ID", async () => {
    const smtp = await startSmtpReceiver();
    try {
      const cfg = resolveNotifyConfig(
        {},
        {
          COSTLINE_SMTP_URL: `smtp://127.0.0.1:${smtp.port}`,
          COSTLINE_EMAIL_FROM: "costline@example.com",
          COSTLINE_EMAIL_TO: "a@example.com, b@example.com",
        },
        10,
      );
      const c = cfg.channels.email!;
      expect(c.type).toBe("email");
      const channel = createEmailChannel(c as Extract<typeof c, { type: "email" }>, { timeoutMs: 3000, links: [] });
      const n = note();
      expect(await channel.send(n, new AbortController().signal)).toEqual({ status: 250 });
      expect(smtp.mails).toHaveLength(1);
      expect(smtp.mails[0]).toMatchObject({
        from: "costline@example.com",
        to: ["a@example.com", "b@example.com"],
        messageId: `<${n.id}@costline>`,
      });
      await channel.close?.();
    } finally {
      await smtp.close();
    }
  });

  it("formats decimal money without floats", () => {
    expect(money("0.000012345")).toBe("$0.000012");
    expect(money("12")).toBe("$12.00");
    expect(money("-3.5")).toBe("-$3.50");
    expect(money("n/a")).toBe("n/a");
  });
});

describe("HTTP answers", () => {
  it("retries 429 and 5xx (with Retry-After), not other 4xx, and network errors", async () => {
    const statuses = [429, 503, 400, 200];
    const server = createServer((req, res) => {
      const s = statuses.shift()!;
      res.writeHead(s, s === 429 ? { "retry-after": "7" } : {});
      res.end(s === 400 ? "invalid_payload" : "ok");
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    const err = (p: Promise<unknown>) =>
      p.then(
        () => undefined,
        (e: DeliveryError) => e,
      );
    expect((await err(postJson(url, "{}", { timeoutMs: 2000 })))?.opts).toEqual({ retryable: true, status: 429, retryAfterMs: 7000 });
    expect((await err(postJson(url, "{}", { timeoutMs: 2000 })))?.opts).toMatchObject({ retryable: true, status: 503 });
    const bad = await err(postJson(url, "{}", { timeoutMs: 2000 }));
    expect(bad?.opts).toMatchObject({ retryable: false, status: 400 });
    expect(bad?.message).toBe("HTTP 400: invalid_payload");
    expect(await postJson(url, "{}", { timeoutMs: 2000 })).toEqual({ status: 200, text: "ok" });
    await new Promise<void>((r) => server.close(() => r()));
    const down = await err(postJson(url, "{}", { timeoutMs: 2000 }));
    expect(down?.opts.retryable).toBe(true);
    expect(down?.message).toMatch(/^POST 127\.0\.0\.1:\d+: fetch failed/);
  });
});
