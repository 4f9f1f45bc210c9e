// The secrets of the configured channels (webhook addresses' secret paths and
// query values, routing keys, signing secrets, header values, SMTP passwords)
// and a redactor that removes them, in any encoding a receiver might echo
// them, from text that is kept: delivery errors, the notification log, the
// DLQ and the delivery state. The generic scrubber (observability/log.ts)
// then removes anything that looks like a credential.
import { scrubSecrets } from "../observability/log.ts";

const REDACTED = "[redacted]";

/** A path segment that is an id or a token rather than a word: long, or with a digit. */
const secretLike = (s: string) => s.length >= 16 || (s.length >= 8 && /\d/.test(s));

/** The parts of an address that can hold a secret: userinfo, the path (and its token-like segments), query values, the fragment. */
export function urlSecrets(address: string): string[] {
  let u: URL;
  try {
    u = new URL(address);
  } catch {
    return [address];
  }
  const out = [address, u.username, u.password, u.hash.slice(1)];
  const segments = u.pathname.split("/").filter(Boolean);
  if (segments.some(secretLike)) out.push(u.pathname.replace(/^\//, ""), ...segments.filter(secretLike));
  for (const [, v] of u.searchParams) out.push(v);
  return out;
}

/** Redacts every given secret (as is, URL-encoded, JSON-escaped) and then anything credential-like from `text`. */
export function createRedactor(secrets: Iterable<string>): (text: string) => string {
  const forms = new Set<string>();
  for (const s of secrets) {
    // Short values ("1", "on") would redact ordinary words; a real secret is longer.
    if (!s || s.length < 6) continue;
    forms.add(s);
    forms.add(encodeURIComponent(s));
    forms.add(JSON.stringify(s).slice(1, -1));
  }
  // Longest first, so a whole address goes before its path and segments.
  const ordered = [...forms].filter((f) => f.length >= 6).sort((a, b) => b.length - a.length);
  return (text) => {
    let out = text;
    for (const f of ordered) if (out.includes(f)) out = out.split(f).join(REDACTED);
    return scrubSecrets(out);
  };
}
