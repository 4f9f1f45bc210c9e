// Finding 6 and the echoed-secret one of issue "locked down", on a real stack
// (nats-server, embedded ClickHouse, the notifier) with fake receivers on
// loopback: alerts whose tenant is a hostile name (mentions, disguised links,
// markup, formula starts, control characters) reach Slack, PagerDuty, e-mail
// and the webhook as text, and a receiver that echoes its secret address and
// the routing key leaves no trace of either in costline.notification_log or
// the DLQ.
import { writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectStack } from "../helpers/stack-nats.ts";
import { jetstream, type JetStreamClient } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { dlqRecordSchema, webhookPayloadSchema, type Alert, type DlqRecord } from "../../schemas/index.ts";
import { outputPayloads } from "../helpers/output-corpus.ts";
import { startStack, tempHome, waitFor, type StackProcess } from "../helpers/stack-process.ts";
import { makeAlert, publishAlert, startHttpReceivers, startSmtpReceiver, type Mail } from "./notifier-receivers.ts";

const SLACK_SECRET_PATH = "/slack/services/T0SECRET1/B0SECRET2/Zq8hU3mVtYp0sEcReTpAtH42";
const ECHO_PATH = "/slack/services/T0ECHO001/B0ECHO002/EchoedSecretPathToken9876";
const ROUTING_KEY = "R0UTINGKEYforTESTS0123456789abcd";
let stack: StackProcess;
let nc: NatsConnection;
let js: JetStreamClient;
let http: Awaited<ReturnType<typeof startHttpReceivers>>;
let smtp: Awaited<ReturnType<typeof startSmtpReceiver>>;
const dlq: DlqRecord[] = [];

/** The decoded text of every MIME part of a mail (nodemailer writes quoted-printable or base64). */
function mailParts(m: Mail): string[] {
  const boundary = /boundary="?([^";\r\n]+)"?/i.exec(m.raw)?.[1];
  const parts = boundary ? m.raw.split(`--${boundary}`).slice(1, -1) : [m.raw];
  return parts.map((p) => {
    const [head = "", ...body] = p.split(/\r?\n\r?\n/);
    const text = body.join("\n\n");
    const enc = /content-transfer-encoding:\s*(\S+)/i.exec(head)?.[1]?.toLowerCase();
    if (enc === "base64") return Buffer.from(text.replace(/\s+/g, ""), "base64").toString("utf8");
    if (enc === "quoted-printable")
      return Buffer.from(
        text.replace(/=\r?\n/g, "").replace(/=([0-9A-F]{2})/gi, (_, h: string) => String.fromCharCode(parseInt(h, 16))),
        "latin1",
      ).toString("utf8");
    return text;
  });
}

const marker = (i: number) => `mk-${i}-x`;
const linkLike = /https?:\/\/(?!grafana\.example\.com)|www\.evil|evil\.example|mailto:/i;
const withoutOurLink = (s: string) => s.replace(/<?https:\/\/grafana\.example\.com\/[^\s<>"|]*(\|Dashboard>)?/g, "");

beforeAll(async () => {
  http = await startHttpReceivers();
  smtp = await startSmtpReceiver();
  // The echoing receiver: refuses (final) and quotes its own secret address and the routing key back.
  http.on(ECHO_PATH, () => ({
    status: 404,
    body: `invalid_token: no hook at ${ECHO_PATH}; routing_key=${ROUTING_KEY}; ${encodeURIComponent(ECHO_PATH)}`,
  }));
  const home = tempHome("costline-sec-notify-");
  const config = {
    notify: {
      channels: {
        slack: { type: "slack", url: `${http.base}${SLACK_SECRET_PATH}` },
        echo: { type: "slack", url: `${http.base}${ECHO_PATH}` },
        pagerduty: { type: "pagerduty", routing_key: { env: "TEST_PD_ROUTING_KEY" }, url: `${http.base}/pd` },
        email: { type: "email", smtp: { host: "127.0.0.1", port: smtp.port }, from: "costline@example.com", to: ["finance@example.com"] },
        hook: { type: "webhook", url: `${http.base}/hook/main` },
      },
      route: {
        group_by: ["tenant", "type"],
        group_wait: "200ms",
        group_interval: "1s",
        repeat_interval: "1h",
        routes: [
          { matchers: ["persona_id=echo"], channels: ["echo"] },
          { matchers: ["severity=critical"], channels: ["slack", "pagerduty", "email", "hook"] },
        ],
      },
      retry: { attempts: 2, initial: "100ms", max: "500ms", timeout: "3s" },
      links: [{ text: "Dashboard", url: "https://grafana.example.com/d/costline?var-tenant={tenant}&var-persona={persona_id}" }],
    },
  };
  const file = path.join(home, "notify.json");
  writeFileSync(file, JSON.stringify(config));
  stack = await startStack(home, { COSTLINE_CONFIG: file, TEST_PD_ROUTING_KEY: ROUTING_KEY });
  nc = await connectStack(stack, "operator");
  js = jetstream(nc);
  const consumer = await js.consumers.get("COSTLINE_DLQ");
  void (async () => {
    for await (const m of await consumer.consume()) dlq.push(dlqRecordSchema.parse(m.json()));
  })();
}, 120_000);

afterAll(async () => {
  await nc?.close();
  if (stack?.child.exitCode === null) await stack.stop();
  await http?.close();
  await smtp?.close();
});

describe("hostile names at every output", () => {
  it("reach Slack, PagerDuty, e-mail and the webhook as text", async () => {
    const alerts: Alert[] = outputPayloads.map((name, i) => {
      const a = makeAlert({ tenant: name, persona: marker(i), severity: "critical" });
      return {
        ...a,
        message: `spend of ${name} is 10× its baseline`,
        evidence: { ...a.evidence, by_model: [{ key: name, cost_usd: "10.1", share: 0.81 }] },
      };
    });
    for (const a of alerts) await publishAlert(js, a);
    const slackFor = (i: number) => http.to(SLACK_SECRET_PATH).filter((r) => r.body.includes(marker(i)));
    const pdFor = (i: number) => http.to("/pd").filter((r) => r.body.includes(marker(i)));
    const hookFor = (i: number) => http.to("/hook/main").filter((r) => r.body.includes(marker(i)));
    const mailFor = (i: number) => smtp.mails.filter((m) => mailParts(m).some((p) => p.includes(marker(i))));
    await waitFor(
      "every alert on every channel",
      async () =>
        alerts.every((_, i) => slackFor(i).length && pdFor(i).length && hookFor(i).length && mailFor(i).length) ? true : undefined,
      90_000,
    );

    const findings: string[] = [];
    alerts.forEach((a, i) => {
      const name = JSON.stringify(a.tenant);
      // Slack: every text Slack parses (the fallback and each block).
      const slack = slackFor(i)[0]!.json as { text: string; blocks: unknown[] };
      const texts = [
        slack.text,
        ...JSON.stringify(slack.blocks)
          .match(/"text":"(?:[^"\\]|\\.)*"/g)!
          .map((t) => JSON.parse(`{${t}}`).text as string),
      ];
      for (const t of texts) {
        const rest = withoutOurLink(t);
        if (/<[!@#]/.test(rest) || /<https?:/.test(rest)) findings.push(`slack ${name}: control sequence in ${JSON.stringify(t)}`);
        if (/@(channel|here|everyone)\b/i.test(rest)) findings.push(`slack ${name}: mention in ${JSON.stringify(t)}`);
        if (linkLike.test(rest)) findings.push(`slack ${name}: link in ${JSON.stringify(t)}`);
      }
      // PagerDuty: what responders read.
      const pd = pdFor(i)[0]!.json as { payload: { summary: string; source: string; group: string; custom_details: { message: string } } };
      for (const t of [pd.payload.summary, pd.payload.source, pd.payload.group, pd.payload.custom_details.message])
        if (linkLike.test(t) || /[\r\n\u0000]/.test(t)) findings.push(`pagerduty ${name}: ${JSON.stringify(t)}`);
      // E-mail: one anchor (our link), no markup from the name, no auto-link, one-line subject.
      const mail = mailFor(i)[0]!;
      const [text = "", html = ""] = mailParts(mail).filter((p) => p.includes(marker(i)));
      const anchors = [...html.matchAll(/<a\s+href="([^"]*)"/gi)].map((x) => x[1]!);
      if (anchors.length !== 1 || !anchors[0]!.startsWith("https://grafana.example.com/"))
        findings.push(`email ${name}: anchors ${JSON.stringify(anchors)}`);
      if (/<(script|img)/i.test(html)) findings.push(`email ${name}: markup`);
      if (linkLike.test(withoutOurLink(html)) || linkLike.test(withoutOurLink(text))) findings.push(`email ${name}: link`);
      const headers = mail.raw.split(/\r?\n\r?\n/)[0]!;
      if (/^(bcc|x-injected):/im.test(headers)) findings.push(`email ${name}: header injected`);
      // Webhook: the exact name, valid against the published schema.
      const hook = webhookPayloadSchema.safeParse(hookFor(i)[0]!.json);
      if (!hook.success || hook.data.alerts[0]!.tenant !== a.tenant) findings.push(`webhook ${name}: not exact`);
    });
    expect(findings).toEqual([]);
    console.log(`[security-notify] ${alerts.length} hostile names × 4 channels: ${findings.length} findings`);
  });

  it("keeps an echoed secret address and routing key out of the notification log and the DLQ", async () => {
    const a = makeAlert({ tenant: "echo-co", persona: "echo", severity: "critical" });
    await publishAlert(js, a);
    const rows = await waitFor(
      "the failed delivery in the log",
      async () => {
        const r = await stack.sql<{ reason: string; result: string }>(
          `SELECT reason, result FROM costline.notification_log WHERE tenant = 'echo-co'`,
        );
        return r.some((x) => x.result === "failed") ? r : undefined;
      },
      60_000,
    );
    expect(http.to(ECHO_PATH).length).toBeGreaterThan(0); // the receiver did echo
    const dead = await waitFor("the DLQ record", async () => dlq.find((d) => d.event_id === a.id), 30_000);
    const stored = JSON.stringify(rows) + JSON.stringify(dead);
    expect(stored).toContain("HTTP 404");
    expect(stored).toContain("[redacted]");
    for (const secret of ["EchoedSecretPathToken9876", "T0ECHO001", ROUTING_KEY, encodeURIComponent(ECHO_PATH), "Zq8hU3mVtYp0sEcReTpAtH42"])
      expect(stored).not.toContain(secret);
    // Nowhere in the whole table either.
    const [leak] = await stack.sql<{ n: number | string }>(
      `SELECT count() AS n FROM costline.notification_log WHERE reason LIKE '%EchoedSecret%' OR reason LIKE '%${ROUTING_KEY}%' OR reason LIKE '%Zq8hU3m%'`,
    );
    expect(Number(leak!.n)).toBe(0);
  });
});
