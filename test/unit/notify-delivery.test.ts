// Delivery logic that needs no network: backoff with jitter, Retry-After,
// the retry loop's ends, the claim decision behind exactly-once, inhibition
// and silence states.
import { describe, expect, it } from "vitest";
import { decideClaim } from "../../pipeline/notify/delivery-state.ts";
import { inhibitedBy } from "../../pipeline/notify/inhibition.ts";
import { alertLabels } from "../../pipeline/notify/labels.ts";
import { backoffMs, DeliveryError, parseRetryAfter, withRetries } from "../../pipeline/notify/retry.ts";
import { silenceState, silencing } from "../../pipeline/notify/silences.ts";
import { suppression } from "../../pipeline/notify/suppression.ts";
import type { DeliveryState, Inhibitor, Silence } from "../../schemas/index.ts";
import { makeAlert } from "../integration/notifier-receivers.ts";

const policy = { attempts: 4, initial: 100, max: 1000, max_retry_after: 5000 };

describe("backoff and Retry-After", () => {
  it("doubles from the initial delay up to the cap, with half of it jittered", () => {
    expect([1, 2, 3, 4, 5].map((n) => backoffMs(n, policy, () => 0))).toEqual([50, 100, 200, 400, 500]);
    expect([1, 2, 3, 4, 5].map((n) => backoffMs(n, policy, () => 1))).toEqual([100, 200, 400, 800, 1000]);
  });

  it("reads Retry-After as seconds or as an HTTP date", () => {
    expect(parseRetryAfter("2")).toBe(2000);
    expect(parseRetryAfter("0.5")).toBe(500);
    expect(parseRetryAfter("Wed, 21 Oct 2026 07:28:05 GMT", Date.parse("2026-10-21T07:28:00Z"))).toBe(5000);
    expect(parseRetryAfter("soon")).toBeUndefined();
    expect(parseRetryAfter(null)).toBeUndefined();
  });
});

describe("withRetries", () => {
  const fail = (retryable: boolean, retryAfterMs?: number) =>
    new DeliveryError("nope", { retryable, status: retryable ? 503 : 400, retryAfterMs });

  it("retries until success and reports each failed attempt", async () => {
    const seen: number[] = [];
    const r = await withRetries(
      async (n) => (n < 3 ? Promise.reject(fail(true)) : "ok"),
      { ...policy, initial: 1 },
      { onRetry: (n) => void seen.push(n) },
    );
    expect(r).toEqual({ ok: true, value: "ok", attempt: 3 });
    expect(seen).toEqual([1, 2]);
  });

  it("stops at once on a final error, and after the last attempt otherwise", async () => {
    let calls = 0;
    const final = await withRetries(async () => (calls++, Promise.reject(fail(false))), policy, {});
    expect(final).toMatchObject({ ok: false, attempt: 1 });
    expect(calls).toBe(1);
    const spent = await withRetries(async () => Promise.reject(fail(true)), { ...policy, initial: 1 }, {});
    expect(spent).toMatchObject({ ok: false, attempt: 4 });
  });

  it("waits at least Retry-After, and gives up when it asks for more than the limit", async () => {
    const t0 = Date.now();
    const r = await withRetries(async (n) => (n === 1 ? Promise.reject(fail(true, 300)) : "ok"), { ...policy, initial: 1 }, {});
    expect(r.ok).toBe(true);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(295);
    const tooLong = await withRetries(async () => Promise.reject(fail(true, 60_000)), policy, {});
    expect(tooLong).toMatchObject({ ok: false, attempt: 1 });
    expect(!tooLong.ok && tooLong.error.message).toContain("exceeds the 5 s limit");
  });

  it("ends the wait when stopped, and passes errors that are not the channel's through", async () => {
    const stop = new AbortController();
    setTimeout(() => stop.abort(), 20);
    const r = await withRetries(
      async () => Promise.reject(fail(true)),
      { ...policy, initial: 10_000, max: 10_000 },
      { signal: stop.signal },
    );
    expect(r).toMatchObject({ ok: false, aborted: true });
    await expect(withRetries(async () => Promise.reject(new Error("KV down")), policy, {})).rejects.toThrow("KV down");
  });
});

describe("claim decision", () => {
  const state = (s: Partial<DeliveryState>): { value: DeliveryState; revision: number } => ({
    value: {
      state: "sending",
      notification_id: "n1",
      owner: "other",
      lease_until: 10_000,
      attempts: 1,
      reason: "",
      updated_at: "2026-11-22T10:00:00Z",
      ...s,
    },
    revision: 7,
  });

  it("sends what was never claimed and leaves settled deliveries alone", () => {
    expect(decideClaim(null, 0, "me")).toEqual({ kind: "fresh" });
    for (const s of ["delivered", "failed", "suppressed"] as const) expect(decideClaim(state({ state: s }), 0, "me").kind).toBe("settled");
  });

  it("waits for a live claim of another process, and resends a dead one's under its notification id", () => {
    expect(decideClaim(state({}), 5_000, "me")).toEqual({ kind: "busy", untilMs: 10_000 });
    const d = decideClaim(state({}), 10_001, "me");
    expect(d.kind).toBe("uncertain");
    expect(d.kind === "uncertain" && d.current).toMatchObject({ revision: 7, value: { notification_id: "n1" } });
    // Our own claim, not in flight (we hold the lock): resend.
    expect(decideClaim(state({ owner: "me" }), 5_000, "me").kind).toBe("uncertain");
  });
});

describe("inhibition", () => {
  const rules = [
    {
      source: [{ name: "severity", op: "=" as const, value: "critical" }],
      target: [{ name: "severity", op: "=~" as const, value: "high|medium|info" }],
      equal: ["tenant", "scope", "scope_id"],
    },
  ];
  const crit = makeAlert({ tenant: "acme", severity: "critical", persona: "p-a" });
  const source = (o: Partial<Inhibitor> = {}): Inhibitor => ({
    fingerprint: crit.fingerprint,
    status: "firing",
    labels: { ...alertLabels(crit) },
    detected_at: crit.detected_at,
    seen_at: 1000,
    ...o,
  });

  it("mutes a lower firing alert on the same scope only", () => {
    const same = makeAlert({ tenant: "acme", severity: "medium", type: "efficiency", persona: "p-a" });
    const other = makeAlert({ tenant: "acme", severity: "medium", type: "efficiency", persona: "p-b" });
    expect(inhibitedBy(rules, [source()], same, alertLabels(same), 2000, 60_000)?.fingerprint).toBe(crit.fingerprint);
    expect(inhibitedBy(rules, [source()], other, alertLabels(other), 2000, 60_000)).toBeUndefined();
    const resolved = { ...same, status: "resolved" as const };
    expect(inhibitedBy(rules, [source()], resolved, alertLabels(resolved), 2000, 60_000)).toBeUndefined();
  });

  it("stops once the source resolved or was not seen for the maximum age", () => {
    const same = makeAlert({ tenant: "acme", severity: "high", type: "creep", persona: "p-a" });
    expect(inhibitedBy(rules, [source({ status: "resolved" })], same, alertLabels(same), 2000, 60_000)).toBeUndefined();
    expect(inhibitedBy(rules, [source()], same, alertLabels(same), 61_001, 60_000)).toBeUndefined();
    // A critical alert never mutes another critical one.
    const crit2 = makeAlert({ tenant: "acme", severity: "critical", type: "creep", persona: "p-a" });
    expect(inhibitedBy(rules, [source()], crit2, alertLabels(crit2), 2000, 60_000)).toBeUndefined();
  });
});

describe("silences", () => {
  const silence: Silence = {
    id: "s1",
    matchers: [
      { name: "tenant", op: "=", value: "acme" },
      { name: "type", op: "=~", value: "spike|creep" },
    ],
    starts_at: "2026-11-22T10:00:00.000Z",
    ends_at: "2026-11-22T12:00:00.000Z",
    comment: "maintenance",
    created_by: "operator:k1",
    created_at: "2026-11-22T09:00:00.000Z",
  };
  const at = (iso: string) => Date.parse(iso);

  it("is pending, active, then expired", () => {
    expect(silenceState(silence, at("2026-11-22T09:59:59Z"))).toBe("pending");
    expect(silenceState(silence, at("2026-11-22T10:00:00Z"))).toBe("active");
    expect(silenceState(silence, at("2026-11-22T12:00:00Z"))).toBe("expired");
  });

  it("mutes matching alerts only while active", () => {
    const spike = alertLabels(makeAlert({ tenant: "acme", type: "spike" }));
    const roi = alertLabels(makeAlert({ tenant: "acme", type: "roi" }));
    expect(silencing([silence], spike, at("2026-11-22T11:00:00Z"))?.id).toBe("s1");
    expect(silencing([silence], roi, at("2026-11-22T11:00:00Z"))).toBeUndefined();
    expect(silencing([silence], spike, at("2026-11-22T12:00:01Z"))).toBeUndefined();
  });
});

describe("suppression", () => {
  const channel = {
    name: "slack",
    type: "slack" as const,
    batchable: true,
    sendResolved: true,
    onUncertain: "resend" as const,
    send: async () => ({ status: 200 }),
  };
  const deps = { channel, silencedBy: () => undefined, inhibitedBy: () => undefined };
  const group = { repeatIntervalMs: 3_600_000 };
  const firing = makeAlert({ tenant: "acme", severity: "high", at: new Date(1_000_000) });
  const item = (a = firing) => ({ alert: a, labels: alertLabels(a) });
  const last = { status: "firing" as const, severity: "high", alert_id: "earlier", notified_at: 1_000_000 };

  it("holds a repeat of a still-firing alert within the repeat interval, unless it got worse", () => {
    expect(suppression(deps, group, item(), new Map(), last, 1_000_000 + 60_000)).toBe("repeat_interval");
    expect(suppression(deps, group, item(), new Map(), last, 1_000_000 + 3_600_001)).toBeUndefined();
    const worse = makeAlert({ tenant: "acme", severity: "critical" });
    expect(suppression(deps, group, item(worse), new Map(), last, 1_060_000)).toBeUndefined();
  });

  it("sends a resolve only where the firing alert was told, in this flush or before", () => {
    const resolved = makeAlert({ tenant: "acme", severity: "high", status: "resolved" });
    expect(suppression(deps, group, item(resolved), new Map(), null, 0)).toBe("not_notified");
    expect(suppression(deps, group, item(resolved), new Map(), last, 0)).toBeUndefined();
    expect(suppression(deps, group, item(resolved), new Map([[resolved.fingerprint, "firing" as const]]), null, 0)).toBeUndefined();
    expect(suppression({ ...deps, channel: { ...channel, sendResolved: false } }, group, item(resolved), new Map(), last, 0)).toBe(
      "send_resolved_off",
    );
  });

  it("names the silence or the inhibiting alert", () => {
    expect(suppression({ ...deps, silencedBy: () => ({ id: "s-9" }) }, group, item(), new Map(), null, 0)).toBe("silenced:s-9");
    expect(suppression({ ...deps, inhibitedBy: () => ({ fingerprint: "fp-crit" }) }, group, item(), new Map(), null, 0)).toBe(
      "inhibited:fp-crit",
    );
  });
});
