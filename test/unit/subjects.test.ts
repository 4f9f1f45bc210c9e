import { describe, expect, it } from "vitest";
import { createSubjects, fromSubjectToken, subjectToken } from "../../pipeline/nats/subjects.ts";

describe("subject tokens", () => {
  it.each(["acme", "umbrella corp/é", "a.b.c", "*", ">", "tenant with spaces", "~tilde", "租户", ""])(
    "escape %j into one safe token and back",
    (tenant) => {
      const token = subjectToken(tenant);
      expect(token).toMatch(/^[A-Za-z0-9_~-]+$/);
      expect(fromSubjectToken(token)).toBe(tenant);
    },
  );

  it("keeps distinct tenants on distinct subjects", () => {
    const s = createSubjects("costline");
    expect(s.events("a.b")).not.toBe(s.events("a_b"));
    expect(s.events("a.b")).toBe("costline.events.a~2eb");
    expect(s.alerts("high", "spike")).toBe("costline.alerts.high.spike");
  });
});

describe("KV key tokens", () => {
  it.each(["acme", "umbrella corp/é", "a.b", "~x=y", ""])("escape %j into a valid KV key part and back", async (v) => {
    const { kvToken, fromKvToken } = await import("../../pipeline/nats/subjects.ts");
    expect(kvToken(v)).toMatch(/^[-_=A-Za-z0-9]+$/);
    expect(fromKvToken(kvToken(v))).toBe(v);
  });
});

describe("partitions", () => {
  it("put a tenant's priced events on one partition token after the tenant, stable across calls", async () => {
    const { partitionOf } = await import("../../pipeline/nats/partition.ts");
    const s = createSubjects("costline", 8);
    const p = partitionOf("acme", 8);
    expect(s.priced("acme")).toBe(`costline.priced.acme.${p}`);
    expect(s.priced("a.b")).toMatch(/^costline\.priced\.a~2eb\.[0-7]$/);
    expect(s.pricedPartition(3)).toBe("costline.priced.*.3");
    expect(createSubjects("costline", 1).priced("acme")).toBe("costline.priced.acme.0");
    // Spread: 1,000 tenants over 8 partitions, none empty or holding more than twice its share.
    const counts = new Array(8).fill(0);
    for (let i = 0; i < 1000; i++) counts[partitionOf(`tenant-${i}`, 8)]++;
    for (const c of counts) expect(c).toBeGreaterThan(60);
    for (const c of counts) expect(c).toBeLessThan(250);
  });
});
