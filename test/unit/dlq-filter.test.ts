// The DLQ tool's filters (times as ISO or ages, tenants from the record or the
// subject, clear errors) and what a dead-letter record learns from the failed
// message: tenant, trace and request, whatever the message's shape.
import { describe, expect, it } from "vitest";
import { isNarrowed, matches, parseFilter, parseWhen } from "../../pipeline/dlq/dlq-filter.ts";
import { eventIds, tenantOfSubject } from "../../pipeline/runner/dlq.ts";
import type { DlqRecord } from "../../schemas/index.ts";

const now = Date.parse("2026-11-22T12:00:00Z");
const record = (over: Partial<DlqRecord>): DlqRecord => ({
  stage: "enrich",
  reason: "validation",
  detail: "",
  subject: "costline.events.acme",
  stream: "COSTLINE_EVENTS",
  stream_seq: 1,
  deliveries: 1,
  failed_at: "2026-11-22T11:30:00.000Z",
  payload_b64: "",
  payload_bytes: 0,
  payload_truncated: false,
  ...over,
});

describe("dlq filters", () => {
  it("reads times as ISO or as an age before now", () => {
    expect(parseWhen("2026-11-22T00:00:00Z", "--since", now).toISOString()).toBe("2026-11-22T00:00:00.000Z");
    expect(parseWhen("90m", "--since", now).toISOString()).toBe("2026-11-22T10:30:00.000Z");
    expect(parseWhen("2d", "--since", now).toISOString()).toBe("2026-11-20T12:00:00.000Z");
    expect(() => parseWhen("yesterday", "--since", now)).toThrow(/--since must be an ISO time/);
    expect(() => parseWhen("12", "--until", now)).toThrow(/--until must be/);
  });

  it("refuses what cannot be meant", () => {
    expect(() => parseFilter({ reason: "bogus" })).toThrow(/--reason must be one of validation/);
    expect(() => parseFilter({ limit: "0" })).toThrow(/--limit must be a positive whole number/);
    expect(() => parseFilter({ since: "1h", until: "2h" }, now)).toThrow(/--since must be before --until/);
    expect(isNarrowed(parseFilter({ limit: "5" }))).toBe(false);
    expect(isNarrowed(parseFilter({ tenant: "acme" }))).toBe(true);
  });

  it("matches on every condition given", () => {
    const f = parseFilter({ stage: "enrich", reason: "validation", since: "1h", tenant: "acme" }, now);
    expect(matches(record({}), f)).toBe(true);
    expect(matches(record({ stage: "ledger" }), f)).toBe(false);
    expect(matches(record({ reason: "not_json" }), f)).toBe(false);
    expect(matches(record({ failed_at: "2026-11-22T10:59:59.000Z" }), f)).toBe(false);
    expect(matches(record({ tenant: "globex", subject: "costline.events.globex" }), f)).toBe(false);
    // A record written before records named their tenant: the subject tells.
    expect(matches(record({ tenant: undefined }), f)).toBe(true);
    // A tenant with characters a subject cannot hold is compared unescaped.
    expect(matches(record({ subject: "costline.priced.umbrella~20corp~2f~c3~a9" }), parseFilter({ tenant: "umbrella corp/é" }))).toBe(true);
    expect(matches(record({ subject: "costline.alerts.critical.spike" }), parseFilter({ tenant: "acme" }))).toBe(false);
    expect(matches(record({}), parseFilter({ until: "2026-11-22T11:30:00Z" }))).toBe(false); // until is exclusive
  });
});

describe("what a dead letter learns from its message", () => {
  const bytes = (v: unknown) => Buffer.from(typeof v === "string" ? v : JSON.stringify(v));

  it("reads a CloudEvent, a priced event, an alert and a batch", () => {
    expect(eventIds(bytes({ id: "e1", source: "svc/a", data: { tenant: "acme", trace_id: "t1", request_id: "r1" } }))).toEqual({
      tenant: "acme",
      trace_id: "t1",
      request_id: "r1",
      event_id: "e1",
      source: "svc/a",
    });
    expect(eventIds(bytes({ event_id: "e2", source: "svc/b", tenant: "globex", trace_id: "t2" }))).toMatchObject({
      tenant: "globex",
      trace_id: "t2",
      event_id: "e2",
    });
    expect(eventIds(bytes({ id: "alert-1", tenant: "acme", type: "spike" }))).toEqual({
      tenant: "acme",
      trace_id: undefined,
      request_id: undefined,
      event_id: undefined,
      source: undefined,
    });
    expect(eventIds(bytes([{ data: { tenant: "acme" } }, { data: { tenant: "acme" } }]))).toEqual({ tenant: "acme" });
    expect(eventIds(bytes([{ data: { tenant: "acme" } }, { data: { tenant: "globex" } }]))).toEqual({});
  });

  it("says nothing about what it cannot read", () => {
    expect(eventIds(bytes("{not json"))).toEqual({});
    expect(eventIds(bytes("null"))).toEqual({});
    expect(eventIds(bytes({ data: { tenant: 42, trace_id: "x".repeat(300) } }))).toMatchObject({ tenant: undefined, trace_id: undefined });
    expect(eventIds(bytes({ data: { tenant: "acme" } }), 10)).toEqual({}); // over the size looked into
  });

  it("takes the tenant from an events or priced subject only", () => {
    expect(tenantOfSubject("costline.events.acme")).toBe("acme");
    expect(tenantOfSubject("costline.priced.umbrella~20corp")).toBe("umbrella corp");
    // Priced subjects carry the tenant's partition after it.
    expect(tenantOfSubject("costline.priced.umbrella~20corp.6")).toBe("umbrella corp");
    expect(tenantOfSubject("costline.events.acme.6")).toBeUndefined();
    expect(tenantOfSubject("costline.windows.tenant")).toBeUndefined();
    expect(tenantOfSubject("costline.alerts.critical.spike")).toBeUndefined();
  });
});
