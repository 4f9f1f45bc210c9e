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
