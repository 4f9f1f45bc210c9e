import { describe, expect, it } from "vitest";
import { loadConfig } from "../../pipeline/config/config.ts";
import { ConfigError } from "../../pipeline/errors.ts";

describe("loadConfig", () => {
  it("has working defaults", () => {
    const c = loadConfig({});
    expect(c.api.port).toBe(8080);
    expect(c.nats.url).toBeUndefined();
    expect(c.clickhouse.url).toBeUndefined();
    expect(c.subjects.prefix).toBe("costline");
    expect(c.stackFile.endsWith(".costline/stack.json")).toBe(true);
    expect(c.rateCards.infra.find((r) => r.resource === "cpu")?.price).toBe("0.0000115");
    expect(c.pricing.batchMultipliers.openai).toBe("0.5");
  });

  it("coerces numbers and treats empty URLs as absent", () => {
    const c = loadConfig({ COSTLINE_API_PORT: "0", NATS_URL: " ", COSTLINE_LEDGER_BATCH_MESSAGES: "50" });
    expect(c.api.port).toBe(0);
    expect(c.nats.url).toBeUndefined();
    expect(c.ledger.batchMessages).toBe(50);
  });

  it("lists every problem in one ConfigError", () => {
    expect(() => loadConfig({ COSTLINE_API_PORT: "http", COSTLINE_SUBJECT_PREFIX: "a.b" })).toThrow(ConfigError);
    expect(() => loadConfig({ COSTLINE_API_PORT: "http", COSTLINE_SUBJECT_PREFIX: "a.b" })).toThrow(
      /COSTLINE_API_PORT.*COSTLINE_SUBJECT_PREFIX/,
    );
  });

  it("reports an unreadable config file", () => {
    expect(() => loadConfig({ COSTLINE_CONFIG: "/nonexistent/costline.json" })).toThrow(/cannot read COSTLINE_CONFIG/);
  });
});
