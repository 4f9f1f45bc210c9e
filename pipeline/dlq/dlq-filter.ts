// Which dead-letter records an operator means: the filter `costline dlq`
// takes (stage, reason, time range, tenant, subject, limit), parsed from the
// command line with clear errors, and the test of one record against it.
import { dlqReasons, type DlqRecord } from "../../schemas/index.ts";
import { CostlineError } from "../errors.ts";
import { tenantOfSubject } from "../runner/dlq.ts";

export interface DlqFilter {
  stage?: string;
  reason?: string;
  since?: Date;
  until?: Date;
  /** The failed event's tenant (from the record, or from an events/priced subject for records without one). */
  tenant?: string;
  /** A substring of the original subject. */
  subject?: string;
  limit?: number;
}

export interface DlqFilterOptions {
  stage?: string;
  reason?: string;
  since?: string;
  until?: string;
  tenant?: string;
  subject?: string;
  limit?: string;
}

const UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** An ISO time, or an age such as 30m, 2h or 7d (that long before `now`). */
export function parseWhen(value: string, flag: string, now = Date.now()): Date {
  const age = /^(\d+)([smhd])$/.exec(value.trim());
  if (age) return new Date(now - Number(age[1]) * UNITS[age[2]!]!);
  const d = /^\d{4}-\d{2}-\d{2}/.test(value) ? new Date(value) : new Date(Number.NaN);
  if (Number.isNaN(d.getTime()))
    throw new CostlineError(`${flag} must be an ISO time such as 2026-11-22T00:00:00Z or an age such as 2h, got "${value}"`);
  return d;
}

export function parseFilter(o: DlqFilterOptions, now = Date.now()): DlqFilter {
  if (o.reason !== undefined && !(dlqReasons as readonly string[]).includes(o.reason))
    throw new CostlineError(`--reason must be one of ${dlqReasons.join(", ")}, got "${o.reason}"`);
  const limit = o.limit === undefined ? undefined : Number(o.limit);
  if (limit !== undefined && (!Number.isInteger(limit) || limit < 1))
    throw new CostlineError(`--limit must be a positive whole number, got "${o.limit}"`);
  const since = o.since === undefined ? undefined : parseWhen(o.since, "--since", now);
  const until = o.until === undefined ? undefined : parseWhen(o.until, "--until", now);
  if (since && until && since >= until) throw new CostlineError("--since must be before --until");
  return { stage: o.stage, reason: o.reason, since, until, tenant: o.tenant, subject: o.subject, limit };
}

/** True when a filter names at least one condition (limit alone is none). */
export function isNarrowed(f: DlqFilter): boolean {
  return Boolean(f.stage || f.reason || f.since || f.until || f.tenant !== undefined || f.subject);
}

export function matches(r: DlqRecord, f: DlqFilter): boolean {
  const at = Date.parse(r.failed_at);
  return (
    (!f.stage || r.stage === f.stage) &&
    (!f.reason || r.reason === f.reason) &&
    (!f.since || at >= f.since.getTime()) &&
    (!f.until || at < f.until.getTime()) &&
    (f.tenant === undefined || (r.tenant ?? tenantOfSubject(r.subject)) === f.tenant) &&
    (!f.subject || r.subject.includes(f.subject))
  );
}
