// E-mail over SMTP with nodemailer: one message per notification, text and
// HTML, with Message-ID <notification id@costline> so a resend after a crash
// carries the same id (mail systems and clients that deduplicate by it show
// it once). SMTP 4xx replies and connection trouble are retried; 5xx replies
// and refused credentials are final.
import nodemailer from "nodemailer";
import type { Alert } from "../../schemas/index.ts";
import type { Channel, Notification } from "./channel.ts";
import type { NotifyConfig, ResolvedChannel } from "./notify-config.ts";
import { DeliveryError } from "./retry.ts";
import { cause, headline, links, money, scopeText, windowText } from "./render.ts";

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function lines(a: Alert, templates: NotifyConfig["links"]): [string, string][] {
  return [
    ["Status", a.status === "resolved" ? "resolved" : `firing (${a.severity})`],
    ["Tenant", a.tenant],
    ["Scope", `${a.scope}: ${scopeText(a)}`],
    ["Observed", money(a.observed)],
    ["Expected", money(a.expected)],
    ...(a.multiplier !== null ? [["Multiplier", `${a.multiplier.toFixed(2)}×`] as [string, string]] : []),
    ["Window", windowText(a)],
    ["Likely cause", cause(a)],
    ...links(a, templates).map((l) => [l.text, l.url] as [string, string]),
  ];
}

export function emailMessage(n: Notification, templates: NotifyConfig["links"]) {
  const subject = headline(n.alerts, n.groupLabels).replace(/^\[costline\] /, "");
  const text = n.alerts
    .map((a) => [`${a.type}: ${a.message}`, ...lines(a, templates).map(([k, v]) => `  ${k}: ${v}`)].join("\n"))
    .join("\n\n");
  const html = n.alerts
    .map(
      (a) =>
        `<h3>${escapeHtml(a.type)}: ${escapeHtml(a.message)}</h3><table>` +
        lines(a, templates)
          .map(([k, v]) => `<tr><th align="left">${escapeHtml(k)}</th><td>${/^https?:\/\//.test(v) ? `<a href="${escapeHtml(v)}">${escapeHtml(v)}</a>` : escapeHtml(v)}</td></tr>`)
          .join("") +
        "</table>",
    )
    .join("\n");
  return { subject: `[costline] ${subject}`, text, html };
}

export function createEmailChannel(c: Extract<ResolvedChannel, { type: "email" }>, opts: { timeoutMs: number; links: NotifyConfig["links"] }): Channel {
  const timeouts = { connectionTimeout: opts.timeoutMs, greetingTimeout: opts.timeoutMs, socketTimeout: opts.timeoutMs };
  const auth = c.smtp.user ? { user: c.smtp.user, pass: c.smtp.password ?? "" } : undefined;
  const transport = c.smtp.url
    ? nodemailer.createTransport({ url: c.smtp.url, ...timeouts })
    : nodemailer.createTransport({ host: c.smtp.host, port: c.smtp.port, secure: c.smtp.secure, auth, ...timeouts });
  return {
    name: c.name,
    type: "email",
    batchable: true,
    sendResolved: c.sendResolved,
    onUncertain: c.onUncertain,
    async send(n) {
      const m = emailMessage(n, opts.links);
      try {
        const info = await transport.sendMail({
          from: c.from,
          to: c.to,
          subject: m.subject,
          text: m.text,
          html: m.html,
          messageId: `<${n.id}@costline>`,
          headers: { "X-Costline-Notification": n.id },
        });
        const code = Number(/^(\d{3})/.exec(String(info.response ?? ""))?.[1] ?? 250);
        return { status: code };
      } catch (err) {
        const e = err as Error & { responseCode?: number; code?: string; response?: string };
        const final = (e.responseCode !== undefined && e.responseCode >= 500) || e.code === "EAUTH" || e.code === "EENVELOPE";
        throw new DeliveryError(`SMTP ${e.responseCode ?? e.code ?? "error"}: ${(e.response ?? e.message).slice(0, 300)}`, {
          retryable: !final,
          status: e.responseCode,
        });
      }
    },
    async close() {
      transport.close();
    },
  };
}
