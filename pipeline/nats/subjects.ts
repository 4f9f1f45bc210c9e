// Subject names and stream names, derived from the configured prefix. Tenants
// become subject tokens after escaping, so no tenant string can break a subject.

export interface Subjects {
  prefix: string;
  events(tenant: string): string;
  priced(tenant: string): string;
  windows(scope: string): string;
  alerts(severity: string, type: string): string;
  dlq(stage: string): string;
  all: { events: string; priced: string; windows: string; alerts: string; dlq: string };
}

export const streamNames = {
  events: "COSTLINE_EVENTS",
  priced: "COSTLINE_PRICED",
  windows: "COSTLINE_WINDOWS",
  alerts: "COSTLINE_ALERTS",
  dlq: "COSTLINE_DLQ",
} as const;

export const kvBuckets = { controls: "costline-controls", budgets: "costline-budgets", checkpoints: "costline-checkpoints" } as const;

const SAFE = /^[A-Za-z0-9_-]$/;

/**
 * Escapes any string into one subject token: letters, digits, `_` and `-`
 * stay; every other UTF-8 byte becomes `~XX`. Reversible, never empty.
 */
export function subjectToken(value: string): string {
  if (value === "") return "~";
  let out = "";
  for (const ch of value) {
    if (SAFE.test(ch)) out += ch;
    else for (const byte of Buffer.from(ch, "utf8")) out += `~${byte.toString(16).padStart(2, "0")}`;
  }
  return out;
}

export function fromSubjectToken(token: string): string {
  if (token === "~") return "";
  const bytes: number[] = [];
  for (let i = 0; i < token.length; i++) {
    if (token[i] === "~") {
      bytes.push(Number.parseInt(token.slice(i + 1, i + 3), 16));
      i += 2;
    } else bytes.push(token.charCodeAt(i));
  }
  return Buffer.from(bytes).toString("utf8");
}

export function createSubjects(prefix: string): Subjects {
  return {
    prefix,
    events: (tenant) => `${prefix}.events.${subjectToken(tenant)}`,
    priced: (tenant) => `${prefix}.priced.${subjectToken(tenant)}`,
    windows: (scope) => `${prefix}.windows.${subjectToken(scope)}`,
    alerts: (severity, type) => `${prefix}.alerts.${subjectToken(severity)}.${subjectToken(type)}`,
    dlq: (stage) => `${prefix}.dlq.${subjectToken(stage)}`,
    all: {
      events: `${prefix}.events.>`,
      priced: `${prefix}.priced.>`,
      windows: `${prefix}.windows.>`,
      alerts: `${prefix}.alerts.>`,
      dlq: `${prefix}.dlq.>`,
    },
  };
}

/** KV keys allow letters, digits and `-/_=.`: every other UTF-8 byte becomes `=XX`. Reversible. */
export function kvToken(value: string): string {
  let out = "";
  for (const ch of value) {
    if (SAFE.test(ch)) out += ch;
    else for (const byte of Buffer.from(ch, "utf8")) out += `=${byte.toString(16).padStart(2, "0")}`;
  }
  return out || "=";
}

export function fromKvToken(token: string): string {
  if (token === "=") return "";
  const bytes: number[] = [];
  for (let i = 0; i < token.length; i++) {
    if (token[i] === "=") {
      bytes.push(Number.parseInt(token.slice(i + 1, i + 3), 16));
      i += 2;
    } else bytes.push(token.charCodeAt(i));
  }
  return Buffer.from(bytes).toString("utf8");
}
