// Slack incoming webhooks: a Block Kit message per notification — a header,
// per alert its summary, observed vs expected, the window and the likely
// cause, then the configured links — with a plain `text` fallback for
// notifications. Slack answers 200 "ok", 4xx for a bad payload or a revoked
// hook (final), 429 with Retry-After when rate limited.
import type { Alert } from "../../schemas/index.ts";
import type { Channel, Notification } from "./channel.ts";
import { postJson } from "./http-post.ts";
import type { NotifyConfig, ResolvedChannel } from "../config/notify-config.ts";
import { cause, headline, links, money, safeLabels, scopeText, windowText, withSafeText } from "./render.ts";
import { escapeSlackControl, slackMrkdwnText, slackPlainText } from "../output/text-safety.ts";

/** Slack allows 50 blocks: the header, a closing "more" line, and three or four per alert. */
const MAX_BLOCKS = 50;
const icon = (a: Alert) =>
  a.status === "resolved" ? "✅" : a.severity === "critical" ? "🔴" : a.severity === "high" ? "🟠" : a.severity === "medium" ? "🟡" : "🔵";
const cut = (s: string, n: number) => (s.length > n ? `${s.slice(0, n - 1)}…` : s);

export function slackMessage(n: Notification, templates: NotifyConfig["links"]): Record<string, unknown> {
  // Producer names render as text: no <!channel>, <@U…>, disguised <url|text>, @here or formatting (docs/money-and-escaping.md).
  const plain = n.alerts.map((a) => withSafeText(a, slackPlainText));
  const mrkdwn = n.alerts.map((a) => withSafeText(a, slackMrkdwnText));
  const blocks: Record<string, unknown>[] = [
    {
      type: "header",
      text: { type: "plain_text", text: cut(headline(plain, safeLabels(n.groupLabels, slackPlainText)), 150), emoji: true },
    },
  ];
  const shown = Math.floor((MAX_BLOCKS - 2) / (templates.length ? 4 : 3));
  for (const [i, a] of mrkdwn.slice(0, shown).entries()) {
    const state = a.status === "resolved" ? "resolved" : a.severity;
    blocks.push(
      {
        type: "section",
        text: { type: "mrkdwn", text: cut(`${icon(a)} *${a.type}* (${state}) on *${a.tenant}* · ${scopeText(a)}\n${a.message}`, 3000) },
      },
      {
        type: "section",
        fields: [
          { type: "mrkdwn", text: `*Observed*\n${money(a.observed)}` },
          { type: "mrkdwn", text: `*Expected*\n${money(a.expected)}` },
          {
            type: "mrkdwn",
            text: `*${a.multiplier !== null ? "Multiplier" : "Score"}*\n${a.multiplier !== null ? `${a.multiplier.toFixed(2)}×` : (a.score?.toFixed(2) ?? "–")}`,
          },
          { type: "mrkdwn", text: `*Window*\n${windowText(a)}` },
        ],
      },
      { type: "section", text: { type: "mrkdwn", text: cut(`*Likely cause:* ${cause(a)}`, 3000) } },
    );
    // Links from the original alert: their values are URL-encoded, so no "|" or ">" can end the link early.
    const ls = links(n.alerts[i]!, templates);
    if (ls.length)
      blocks.push({
        type: "context",
        elements: [
          {
            type: "mrkdwn",
            text: cut(
              ls.map((l) => `<${escapeSlackControl(l.url)}|${escapeSlackControl(l.text.replace(/\|/g, "¦"))}>`).join("  ·  "),
              3000,
            ),
          },
        ],
      });
  }
  if (n.alerts.length > shown)
    blocks.push({ type: "context", elements: [{ type: "mrkdwn", text: `…and ${n.alerts.length - shown} more alerts in this group` }] });
  return { text: headline(mrkdwn, safeLabels(n.groupLabels, slackMrkdwnText)), blocks };
}

export function createSlackChannel(
  c: Extract<ResolvedChannel, { type: "slack" }>,
  opts: { timeoutMs: number; links: NotifyConfig["links"] },
): Channel {
  return {
    name: c.name,
    type: "slack",
    batchable: true,
    sendResolved: c.sendResolved,
    onUncertain: c.onUncertain,
    async send(n, signal) {
      const res = await postJson(c.url, JSON.stringify(slackMessage(n, opts.links)), { timeoutMs: opts.timeoutMs, signal });
      return { status: res.status };
    },
  };
}
