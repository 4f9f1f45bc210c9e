// Subject names and stream names, derived from the configured prefix. Tenants
// become subject tokens after escaping, so no tenant string can break a subject.
// Priced subjects carry one more token after the tenant: its partition
// (nats/partition.ts), so a stateful stage can read one partition; window
// subjects carry the partition of the tenant the windows are of, so the
// detector's owner of a partition reads that partition's windows only.
import { partitionOf } from "./partition.ts";

export interface Subjects {
  prefix: string;
  events(tenant: string): string;
  /** `<prefix>.priced.<tenant>.<partition>` */
  priced(tenant: string): string;
  /** The filter of one partition's priced subjects: `<prefix>.priced.*.<partition>`. */
  pricedPartition(partition: number): string;
  partitions: number;
  /** `<prefix>.windows.<scope>.<partition>`: the partition of the windows' tenant. */
  windows(scope: string, tenant: string): string;
  /** The filter of one partition's windows of one scope (`*`: every scope). */
  windowsPartition(partition: number, scope?: string): string;
  /** The filter of one scope's windows in every partition. */
  windowsScope(scope: string): string;
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

export const kvBuckets = {
  controls: "costline-controls",
  budgets: "costline-budgets",
  checkpoints: "costline-checkpoints",
  reservations: "costline-reservations",
} as const;

/** Buckets of partition ownership and state, with settings of their own (not the history-5 buckets above). */
export const partitionBuckets = {
  /** Partition leases of the stateful stages (a TTL bucket: a lease lapses unless heartbeated). */
  leases: "costline-leases",
  /** The windower's checkpoints, one per partition (history 1: only the latest counts). */
  windowState: "costline-window-state",
  /** The detector's checkpoints (baselines and alert book), one per partition. */
  detectorState: "costline-detector-state",
} as const;

const SAFE = /^[A-Za-z0-9_-]$/;

/** Letters, digits, `_` and `-` stay; every other UTF-8 byte becomes `<marker>XX`. Reversible, never empty. */
function escapeWith(marker: string, value: string): string {
  if (value === "") return marker;
  let out = "";
  for (const ch of value) {
    if (SAFE.test(ch)) out += ch;
    else for (const byte of Buffer.from(ch, "utf8")) out += `${marker}${byte.toString(16).padStart(2, "0")}`;
  }
  return out;
}

function unescapeWith(marker: string, token: string): string {
  if (token === marker) return "";
  const bytes: number[] = [];
  for (let i = 0; i < token.length; i++) {
    if (token[i] === marker) {
      bytes.push(Number.parseInt(token.slice(i + 1, i + 3), 16));
      i += 2;
    } else bytes.push(token.charCodeAt(i));
  }
  return Buffer.from(bytes).toString("utf8");
}

/** Any string as one subject token (`~` escapes): no tenant can break a subject. */
export const subjectToken = (value: string) => escapeWith("~", value);
export const fromSubjectToken = (token: string) => unescapeWith("~", token);

/** Any string as a KV key part (KV keys allow `=` but not `~`). */
export const kvToken = (value: string) => escapeWith("=", value);
export const fromKvToken = (token: string) => unescapeWith("=", token);

/** The default of COSTLINE_PARTITIONS, for callers without a configuration (tests, tools). */
export const DEFAULT_PARTITIONS = 8;

export function createSubjects(prefix: string, partitions = DEFAULT_PARTITIONS): Subjects {
  return {
    prefix,
    partitions,
    events: (tenant) => `${prefix}.events.${subjectToken(tenant)}`,
    priced: (tenant) => `${prefix}.priced.${subjectToken(tenant)}.${partitionOf(tenant, partitions)}`,
    pricedPartition: (partition) => `${prefix}.priced.*.${partition}`,
    windows: (scope, tenant) => `${prefix}.windows.${subjectToken(scope)}.${partitionOf(tenant, partitions)}`,
    windowsScope: (scope) => `${prefix}.windows.${subjectToken(scope)}.*`,
    windowsPartition: (partition, scope) => `${prefix}.windows.${scope === undefined ? "*" : subjectToken(scope)}.${partition}`,
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
