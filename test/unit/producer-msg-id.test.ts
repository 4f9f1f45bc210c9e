// The producer's Nats-Msg-Id: one per tenant, source and id, unambiguous and fit for a header.
import { describe, expect, it } from "vitest";
import { batchMsgIdOf, msgIdOf } from "../../pipeline/producer/producer.ts";

const ev = (tenant: string, source: string, id: string) => ({ source, id, data: { tenant } });

describe("msgIdOf", () => {
  it("names the tenant, so two tenants' events with the same source and id differ", () => {
    expect(msgIdOf(ev("acme", "app", "1"))).toBe("acme|app|1");
    expect(msgIdOf(ev("globex", "app", "1"))).not.toBe(msgIdOf(ev("acme", "app", "1")));
  });

  it("escapes the separator, so parts that contain it cannot collide", () => {
    expect(msgIdOf(ev("a|b", "c", "1"))).not.toBe(msgIdOf(ev("a", "b|c", "1")));
    expect(msgIdOf(ev("a", "b|c", "1"))).not.toBe(msgIdOf(ev("a", "b", "c|1")));
    expect(msgIdOf(ev("a%7Cb", "c", "1"))).not.toBe(msgIdOf(ev("a|b", "c", "1")));
  });

  it("holds no line break, which a header value cannot carry", () => {
    expect(msgIdOf(ev("line\nbreak\rtenant", "app", "1"))).toBe("line%0Abreak%0Dtenant|app|1");
  });

  it("names a batch by its first and last events and its size", () => {
    expect(batchMsgIdOf([ev("acme", "app", "1"), ev("acme", "app", "2"), ev("acme", "app", "3")])).toBe("batch|acme|app|1|3|acme|app|3");
  });
});
