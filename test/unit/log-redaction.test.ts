// Secrets never reach a log line: fields by name, and credentials inside
// URLs, bearer tokens, API keys, webhook addresses and nkey seeds wherever
// they appear — messages, nested objects, error messages and stacks.
import { pino, type Logger, type LoggerOptions } from "pino";
import { describe, expect, it } from "vitest";
import { logOptions, scrubSecrets } from "../../pipeline/observability/log.ts";

const secrets = {
  password: "hunter2-very-secret",
  apiKey: "cl_abcdefghijkl_S3cr3tS3cr3tS3cr3tS3cr3tS3cr3t",
  slack: "https://hooks.slack.com/services/T000/B000/XXXXSECRETXXXX",
  natsUrl: "nats://costline:natspass-42@nats.internal:4222",
  seed: `SUA${"B".repeat(55)}`,
  routing: "R0UT1NGKEYSECRET0000000000000000",
};

function capture(): { log: Logger; text: () => string } {
  const lines: string[] = [];
  const log = pino({ level: "debug", ...logOptions } as LoggerOptions, { write: (l: string) => void lines.push(l) });
  return { log, text: () => lines.join("") };
}

describe("log redaction", () => {
  it("censors secret fields and scrubs secrets out of any text", () => {
    const { log, text } = capture();
    log.info({ password: secrets.password, config: { nats: { password: secrets.password, token: "tok-123456" }, pagerduty: { routing_key: secrets.routing } } }, "configured");
    log.warn({ url: secrets.natsUrl, headers: { authorization: `Bearer ${secrets.apiKey}` } }, `connecting to ${secrets.natsUrl}`);
    log.error({ err: new Error(`POST ${secrets.slack} failed for key ${secrets.apiKey}`) }, "delivery failed");
    log.info(`seed ${secrets.seed} loaded`);
    const out = text();
    for (const s of [secrets.password, secrets.apiKey, "XXXXSECRETXXXX", "natspass-42", secrets.seed, secrets.routing, "tok-123456"]) expect(out).not.toContain(s);
    // What is not secret stays readable.
    expect(out).toContain("nats://[redacted]@nats.internal:4222");
    expect(out).toContain("https://hooks.slack.com/[redacted]");
    expect(out).toContain("delivery failed");
    expect(out).toContain('"password":"[redacted]"');
  });

  it("leaves ordinary text alone", () => {
    expect(scrubSecrets("budget acme.tenant.monthly at 90 % (http://127.0.0.1:8080/v1/budgets)")).toBe("budget acme.tenant.monthly at 90 % (http://127.0.0.1:8080/v1/budgets)");
  });
});
