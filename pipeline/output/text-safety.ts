// Neutralises producer-supplied text (tenant, model, persona, feature names
// and the alert messages that quote them) for the places people read it:
// Slack mrkdwn and plain_text, e-mail HTML and text, PagerDuty summaries.
// The rule is the same everywhere: a name renders as the text it is, never as
// a mention, a link, formatting or markup. Every pattern here is linear.

/** Control characters, line breaks and bidirectional overrides: a name is one line that reads in the order it is stored. */
const unsafeChars = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/** One line of text: control characters and bidi overrides become a space (header injection and spoofing need them). */
export function oneLine(s: string): string {
  return s.replace(unsafeChars, " ");
}

/**
 * Breaks automatic linking by mail clients, Slack and PagerDuty: "https://x.com"
 * reads "https[:]//x[.]com", "www.x" reads "www[.]x", a bare "evil.example"
 * reads "evil[.]example". Model names such as "claude-3.5-sonnet" or
 * "gpt-4.1" are left alone (a digit after the dot is not a domain).
 */
export function defangLinks(s: string): string {
  return s
    .replace(/:\/\//g, "[:]//")
    .replace(/\b([a-z0-9-]+)\.(?=[a-z]{2,}\b)/gi, "$1[.]")
    .replace(/\bmailto:/gi, "mailto[:]");
}

/** "@channel", "@here", "@everyone" as text: a zero-width space after the "@" stops the broadcast. */
export function neutraliseMentions(s: string): string {
  return s.replace(/@(channel|here|everyone)\b/gi, "@\u200b$1");
}

/** Slack's three control characters (api.slack.com "Escaping text"): <!channel>, <@U…> and <url|text> become text. */
export function escapeSlackControl(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

/** Producer text inside Slack mrkdwn: no mentions, links, code spans or bold; "_" and "~" only style text between word boundaries, which names keep. */
export function slackMrkdwnText(s: string): string {
  return escapeSlackControl(neutraliseMentions(defangLinks(oneLine(s))))
    .replace(/`/g, "ˋ")
    .replace(/\*/g, "∗");
}

/** Producer text inside a Slack plain_text object (headers): no markup is parsed there, but angle brackets and mentions are still neutralised. */
export function slackPlainText(s: string): string {
  return neutraliseMentions(defangLinks(oneLine(s)))
    .replace(/</g, "‹")
    .replace(/>/g, "›");
}

/** HTML-escapes the five significant characters. */
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** Producer text in an e-mail's HTML part: escaped, and no client turns it into a link. */
export function emailHtmlText(s: string): string {
  return escapeHtml(defangLinks(oneLine(s)));
}

/** Producer text in an e-mail's text part, its subject, or a PagerDuty summary: one line, no auto-link. */
export function plainReadableText(s: string): string {
  return defangLinks(oneLine(s));
}
