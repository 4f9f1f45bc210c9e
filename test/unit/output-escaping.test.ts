// Escaping at every output (finding 6 of issue "locked down"): hostile
// producer names render as text in Slack (no mention, no disguised link, no
// formatting), e-mail (no markup, no link in either part, no header break),
// PagerDuty (no link in what responders read), webhooks (exact and
// JSON-safe), and the usage CSV (no formula cell, refunds still numbers).
// Secrets a receiver echoes are redacted before anything is stored.
import { describe, expect, it } from "vitest";
import { emailMessage } from "../../pipeline/notify/channel-email.ts";
import { pagerdutyEvent } from "../../pipeline/notify/channel-pagerduty.ts";
import { slackMessage } from "../../pipeline/notify/channel-slack.ts";
import { webhookBody } from "../../pipeline/notify/channel-webhook.ts";
import { createRedactor } from "../../pipeline/notify/channel-secrets.ts";
import { channelSecrets } from "../../pipeline/notify/channels.ts";
import { csvCell, csvTable } from "../../pipeline/output/csv-cell.ts";
import { defangLinks, slackMrkdwnText } from "../../pipeline/output/text-safety.ts";
import { webhookPayloadSchema, type Alert } from "../../schemas/index.ts";
import { outputPayloads } from "../helpers/output-corpus.ts";
import { makeAlert } from "../integration/notifier-receivers.ts";

const links = [{ text: "Dashboard", url: "https://grafana.example.com/d/c?var-tenant={tenant}&p={persona_id}" }];

function hostileAlert(name: string): Alert {
  const a = makeAlert({ tenant: name, persona: name });
  const contributor = { key: name, cost_usd: "1.5", share: 0.5 };
  return {
    ...a,
    message: `spend of ${name} is 10× its baseline`,
    scope_key: { ...a.scope_key, tenant: name, persona_id: name, feature: name },
    evidence: { by_model: [contributor], by_operation: [contributor], by_post: [contributor], by_user: [contributor] },
  };
}
const note = (a: Alert) => ({ id: "n-1", channel: "x", groupKey: "k", groupLabels: { tenant: a.tenant, type: a.type }, alerts: [a] });

/** Every mrkdwn or plain_text string of a Block Kit message, with its type. */
function slackTexts(m: Record<string, unknown>): { type: string; text: string }[] {
  const out: { type: string; text: string }[] = [{ type: "mrkdwn", text: m.text as string }];
  const walk = (v: unknown) => {
    if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === "object") {
      const o = v as Record<string, unknown>;
      if ((o.type === "mrkdwn" || o.type === "plain_text") && typeof o.text === "string") out.push({ type: o.type, text: o.text });
      else Object.values(o).forEach(walk);
    }
  };
  walk(m.blocks);
  return out;
}

/** Slack's special sequences: the only "<…>" allowed are our own configured links. */
const slackControl = /<(?!https:\/\/grafana\.example\.com\/)[^>]*>/;
const linkLike = /https?:\/\/(?!grafana\.example\.com)|www\.evil|evil\.example|mailto:/i;
const mention = /@(channel|here|everyone)\b/i;

describe("Slack", () => {
  it.each(outputPayloads)("renders %j as text", (name) => {
    const texts = slackTexts(slackMessage(note(hostileAlert(name)), links));
    for (const { type, text } of texts) {
      expect(text, type).not.toMatch(slackControl);
      expect(text, type).not.toMatch(mention);
      // Our configured link carries the name URL-encoded inside its query string: that is data, not a link.
      expect(text.replace(/<https:\/\/grafana\.example\.com\/[^|>]*\|Dashboard>/g, ""), type).not.toMatch(linkLike);
      expect(text, type).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u202e]/);
      if (type === "plain_text") expect(text).not.toMatch(/[<>]/);
    }
    // Producer formatting cannot open a code span or bold: only our own asterisks remain.
    const mrkdwn = texts
      .filter((t) => t.type === "mrkdwn")
      .map((t) => t.text)
      .join("\n");
    expect(mrkdwn).not.toContain("`");
  });

  it("escapes Slack's control characters and keeps the configured link a link", () => {
    expect(slackMrkdwnText("<!channel> a & b")).toBe("&lt;!channel&gt; a &amp; b");
    const m = slackMessage(note(hostileAlert("<http://evil.example|ok>")), links) as { blocks: { elements?: { text: string }[] }[] };
    const link = m.blocks.find((b) => b.elements)!.elements![0]!.text;
    expect(link).toMatch(/^<https:\/\/grafana\.example\.com\/d\/c\?var-tenant=%3Chttp%3A%2F%2Fevil\.example%7Cok%3E&amp;p=.*\|Dashboard>$/);
  });
});

describe("e-mail", () => {
  it.each(outputPayloads)("renders %j as text in both parts, and the subject stays one line", (name) => {
    const m = emailMessage(note(hostileAlert(name)), links);
    const anchors = [...m.html.matchAll(/<a href="([^"]*)">/g)].map((x) => x[1]);
    expect(anchors.every((href) => href!.startsWith("https://grafana.example.com/"))).toBe(true);
    expect(anchors).toHaveLength(1);
    expect(m.html).not.toMatch(/<(script|img)/i);
    // Apart from our own link, nothing a client would turn into one.
    const withoutOurLink = (s: string) => s.replace(/https:\/\/grafana\.example\.com\/[^\s<"]*/g, "");
    expect(withoutOurLink(m.html)).not.toMatch(linkLike);
    expect(withoutOurLink(m.text)).not.toMatch(linkLike);
    expect(m.subject).not.toMatch(/[\r\n]/);
    expect(m.subject).not.toMatch(linkLike);
  });

  it("does not make a tenant named https://… a link (the reported case)", () => {
    const m = emailMessage(note(hostileAlert("https://evil.example/login")), links);
    expect(m.html).toContain("https[:]//evil[.]example/login");
    expect(m.html).not.toContain('href="https://evil');
    expect(m.text).toContain("Tenant: https[:]//evil[.]example/login");
  });
});

describe("PagerDuty", () => {
  it.each(outputPayloads)("summarises %j without a link or a line break, keeping the exact scope for tooling", (name) => {
    const e = pagerdutyEvent(hostileAlert(name), "rk", links) as {
      payload: { summary: string; source: string; group: string; custom_details: { message: string; scope: Record<string, string> } };
    };
    for (const s of [e.payload.summary, e.payload.source, e.payload.group, e.payload.custom_details.message]) {
      expect(s).not.toMatch(linkLike);
      expect(s).not.toMatch(/[\r\n\u0000\u202e]/);
    }
    expect(e.payload.custom_details.scope.persona_id).toBe(name);
  });
});

describe("webhook", () => {
  it.each(outputPayloads)("carries %j exactly, as JSON that parses, with no raw line separators", (name) => {
    const a = hostileAlert(name);
    const body = webhookBody(note(a));
    expect(body).not.toMatch(/[\u2028\u2029\r\n]/);
    const parsed = webhookPayloadSchema.parse(JSON.parse(body));
    expect(parsed.alerts[0]!.tenant).toBe(name);
    expect(parsed.group_labels.tenant).toBe(name);
  });
});

describe("usage CSV", () => {
  it.each(outputPayloads.filter((p) => /^[=+\-@\t\r\uff1d]/.test(p)))("neutralises the formula cell %j", (name) => {
    const cell = csvCell(name);
    expect(cell.startsWith(`"'`)).toBe(true);
    expect(cell.endsWith('"')).toBe(true);
  });

  it("keeps numbers numbers (a refund stays -5.25) and treats anything else in a number column as text", () => {
    const out = csvTable(
      [
        { model: "=1+1", user_id: "-2+3", cost_usd: "-5.25", requests: 3 },
        { model: "gpt-4o", user_id: "u,1", cost_usd: "=1+1", requests: "-1" },
      ],
      ["model", "user_id", "requests", "cost_usd"],
      ["requests", "cost_usd"],
    );
    expect(out).toBe(`model,user_id,requests,cost_usd\n"'=1+1","'-2+3",3,-5.25\ngpt-4o,"u,1",-1,"'=1+1"\n`);
  });
});

describe("links are defanged, model names are not", () => {
  it.each([
    ["https://x.example/a", "https[:]//x[.]example/a"],
    ["claude-3.5-sonnet", "claude-3.5-sonnet"],
    ["gpt-4.1-mini", "gpt-4.1-mini"],
    ["ai_jesus", "ai_jesus"],
  ])("%s → %s", (input, out) => expect(defangLinks(input)).toBe(out));
});

describe("secrets a receiver echoes", () => {
  const slack = {
    type: "slack" as const,
    name: "slack",
    sendResolved: true,
    onUncertain: "resend" as const,
    url: "http://127.0.0.1:9/services/T0ABCDEFG/B0HIJKLMN/XyZsecretPathToken123456",
  };
  const pd = {
    type: "pagerduty" as const,
    name: "pd",
    sendResolved: true,
    onUncertain: "resend" as const,
    url: "http://127.0.0.1:9/pd",
    routingKey: "R0UTINGKEY0123456789abcdef012345",
  };
  const hook = {
    type: "webhook" as const,
    name: "hook",
    sendResolved: true,
    onUncertain: "resend" as const,
    url: "http://127.0.0.1:9/hook?token=tok-123456789",
    secret: "hmac-secret-value",
    headers: { authorization: "Token zzz-header-secret" },
  };
  const redact = createRedactor([slack, pd, hook].flatMap(channelSecrets));

  it.each([
    `invalid_token for /services/T0ABCDEFG/B0HIJKLMN/XyZsecretPathToken123456`,
    `no_service: XyZsecretPathToken123456`,
    `POST http://127.0.0.1:9/services/T0ABCDEFG/B0HIJKLMN/XyZsecretPathToken123456 failed`,
    `{"routing_key":"R0UTINGKEY0123456789abcdef012345","error":"bad"}`,
    `echo ${encodeURIComponent("/services/T0ABCDEFG/B0HIJKLMN/XyZsecretPathToken123456")}`,
    `token tok-123456789 refused; sig hmac-secret-value; Token zzz-header-secret`,
    `see https://hooks.slack.com/services/T1/B2/abcdef and Bearer abc.def.ghi`,
  ])("redacts %j", (echo) => {
    const out = redact(echo);
    for (const s of [
      "XyZsecretPathToken123456",
      "R0UTINGKEY0123456789abcdef012345",
      "tok-123456789",
      "hmac-secret-value",
      "zzz-header-secret",
      "abcdef",
      "abc.def.ghi",
    ])
      expect(out).not.toContain(s);
    expect(out).toContain("[redacted]");
  });

  it("leaves ordinary reasons alone", () => {
    expect(redact("HTTP 503: upstream busy")).toBe("HTTP 503: upstream busy");
    expect(redact("silenced:s1")).toBe("silenced:s1");
  });
});
