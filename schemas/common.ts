// Building blocks shared by every wire schema: decimal money strings,
// attribution keys, identifiers with sane bounds.
import * as z from "zod";

/** The form of a decimal amount: up to 24 integer digits and 18 decimals. */
export const decimalPattern = /^-?\d{1,24}(\.\d{1,18})?$/;

/** A decimal amount as a string ("12.50", "-0.000001"): money never travels as a float. */
export const decimalString = z.string().max(64).regex(decimalPattern, 'must be a decimal string such as "12.50"');

export const nonNegativeDecimalString = decimalString.refine((v) => !v.startsWith("-"), "must not be negative");

/** ISO-8601 timestamp with a time zone (Z or ±hh:mm). */
export const isoTime = z.iso.datetime({ offset: true });

export const shortText = z.string().min(1).max(256);
const optionalKey = z.string().max(256).optional();

export const tenantId = z
  .string()
  .min(1, "tenant is required")
  .max(128)
  .refine((t) => t.trim() === t, "tenant must not start or end with white space");

/** Attribution keys every payload carries; tenant is required, the rest optional. */
export const attributionShape = {
  tenant: tenantId,
  post_id: optionalKey,
  persona_id: optionalKey,
  user_id: optionalKey,
  feature: optionalKey,
  operation: optionalKey,
  trace_id: optionalKey,
  correlation_id: optionalKey,
  request_id: optionalKey,
  tags: z
    .record(z.string().min(1).max(64), z.string().max(256))
    .refine((t) => Object.keys(t).length <= 32, "at most 32 tags")
    .optional(),
};

export const attributionSchema = z.object(attributionShape);
export type Attribution = z.infer<typeof attributionSchema>;

export const currencyCode = z.string().regex(/^[A-Z]{3}$/, "an ISO-4217 code such as USD");

/** Zones already found valid: building an Intl.DateTimeFormat costs about 0.1 ms, and a list of budgets checks one per budget. */
const knownTimeZones = new Set<string>();
/** True for a time zone Intl knows (IANA names such as "Europe/Berlin", and "UTC"). Only valid names are kept, so the set stays bounded. */
export function isTimeZone(tz: string): boolean {
  if (knownTimeZones.has(tz)) return true;
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: tz });
  } catch {
    return false;
  }
  knownTimeZones.add(tz);
  return true;
}
