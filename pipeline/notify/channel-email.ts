// E-mail over SMTP with nodemailer: one message per notification, text and
// HTML, with Message-ID <notification id@costline> so a resend after a crash
// carries the same id (mail systems and clients that deduplicate by it show
// it once). SMTP 4xx replies and connection trouble are retried; 5xx replies
// and refused credentials are final.
import nodemailer from "nodemailer";
import type { Alert } from "../../schemas/index.ts";
import type { Channel, Notification } from "./channel.ts";
import type { NotifyConfig, ResolvedChannel } from "../config/notify-config.ts";
import { DeliveryError } from "./retry.ts";
import { cause, headline, links, money, safeLabels, scopeText, windowText, withSafeText } from "./render.ts";
import { escapeHtml, plainReadableText } from "../output/text-safety.ts";

/** A row of the alert table: label, the text people read, and for the configured links only, the address. */
type Line = { label: string; value: string; href?: string };

/** Rows of an alert whose texts already went through `safe`; links are built from the original alert. */
function lines(shown: Alert, original: Alert, templates: NotifyConfig["links"]): Line[] {
  const row = (label: string, value: string): Line => ({ label, value });
  return [
    row("Status", shown.status === "resolved" ? "resolved" : `firing (${shown.severity})`),
    row("Tenant", shown.tenant),
    row("Scope", `${shown.scope}: ${scopeText(shown)}`),
    row("Observed", money(shown.observed)),
    row("Expected", money(shown.expected)),
    ...(shown.multiplier !== null ? [row("Multiplier", `${shown.multiplier.toFixed(2)}×`)] : []),
    row("Window", windowText(shown)),
    row("Likely cause", cause(shown)),
    // Only configured link templates are links; a tenant named "https://…" is text.
    ...links(original, templates).map((l) => ({ label: plainReadableText(l.text), value: l.url, href: l.url })),
  ];
}

export function emailMessage(n: Notification, templates: NotifyConfig["links"]) {
  // Producer names never become markup or links, in either part (docs/money-and-escaping.md).
  const readable = n.alerts.map((a) => withSafeText(a, plainReadableText));
  const subject = headline(readable, safeLabels(n.groupLabels, plainReadableText)).replace(/^\[costline\] /, "");
  const text = readable
    .map((a, i) => [`${a.type}: ${a.message}`, ...lines(a, n.alerts[i]!, templates).map((l) => `  ${l.label}: ${l.value}`)].join("\n"))
    .join("\n\n");
  // The HTML part escapes what the text part shows (the defanged names), so both read the same.
  const html = readable
    .map(
      (a, i) =>
        `<h3>${escapeHtml(a.type)}: ${escapeHtml(a.message)}</h3><table>` +
        lines(a, n.alerts[i]!, templates)
          .map(
            (l) =>
              `<tr><th align="left">${escapeHtml(l.label)}</th><td>${l.href ? `<a href="${escapeHtml(l.href)}">${escapeHtml(l.value)}</a>` : escapeHtml(l.value)}</td></tr>`,
          )
          .join("") +
        "</table>",
    )
    .join("\n");
  return { subject: `[costline] ${subject}`, text, html };
}

export function createEmailChannel(
  c: Extract<ResolvedChannel, { type: "email" }>,
  opts: { timeoutMs: number; links: NotifyConfig["links"] },
): Channel {
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
