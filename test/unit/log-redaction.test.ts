// Secrets never reach a log line: fields by name (in any case, at any depth),
// and credentials inside URLs, bearer and basic tokens, API keys, JWTs, creds
// files, webhook addresses and nkey seeds wherever they appear — messages,
// nested objects, error messages and stacks.
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
    log.info(
      {
        password: secrets.password,
        config: { nats: { password: secrets.password, token: "tok-123456" }, pagerduty: { routing_key: secrets.routing } },
      },
      "configured",
    );
    log.warn({ url: secrets.natsUrl, headers: { authorization: `Bearer ${secrets.apiKey}` } }, `connecting to ${secrets.natsUrl}`);
    log.error({ err: new Error(`POST ${secrets.slack} failed for key ${secrets.apiKey}`) }, "delivery failed");
    log.info(`seed ${secrets.seed} loaded`);
    const out = text();
    for (const s of [secrets.password, secrets.apiKey, "XXXXSECRETXXXX", "natspass-42", secrets.seed, secrets.routing, "tok-123456"])
      expect(out).not.toContain(s);
    // What is not secret stays readable.
    expect(out).toContain("nats://[redacted]@nats.internal:4222");
    expect(out).toContain("https://hooks.slack.com/[redacted]");
    expect(out).toContain("delivery failed");
    expect(out).toContain('"password":"[redacted]"');
  });

  it("censors secrets by field name in any case and at any depth, and keeps look-alikes", () => {
    const { log, text } = capture();
    log.info(
      {
        env: { NATS_PASSWORD: "envpass-1", CLICKHOUSE_PASSWORD: "envpass-2", COSTLINE_METRICS_TOKEN: "envtok-3" },
        req: { headers: { Authorization: "Token envtok-4", "X-Api-Key": "envtok-5", cookie: "session=envtok-6" } },
        smtp: { host: "mail.internal", auth: { user: "alerts", pass: "smtppass-7" } },
        channel: { type: "pagerduty", integration_key: "pdkey-8", client_secret: "oauth-9" },
        usage: { input_tokens: 1000, output_tokens: 500 },
        scope_key: "acme.tenant",
        key: "acme.tenant.monthly",
      },
      "configured",
    );
    const out = text();
    for (const s of ["envpass-1", "envpass-2", "envtok-3", "envtok-4", "envtok-5", "envtok-6", "smtppass-7", "pdkey-8", "oauth-9"])
      expect(out).not.toContain(s);
    const line = JSON.parse(out) as Record<string, any>;
    expect(line.usage).toEqual({ input_tokens: 1000, output_tokens: 500 });
    expect(line.scope_key).toBe("acme.tenant");
    expect(line.key).toBe("acme.tenant.monthly");
  });

  it("scrubs credentials from URLs, headers, JWTs and creds files in any text", () => {
    const creds = [
      "-----BEGIN NATS USER JWT-----",
      "eyJ0eXAiOiJKV1QiLCJhbGciOiJlZDI1NTE5LW5rZXkifQ.eyJqdGkiOiJBQkNERUZHIn0.c2lnbmF0dXJlc2lnbmF0dXJl",
      "------END NATS USER JWT------",
      "",
      "-----BEGIN USER NKEY SEED-----",
      `SUA${"C".repeat(55)}`,
      "------END USER NKEY SEED------",
    ].join("\n");
    const cases: [string, string, string][] = [
      ["smtp://alerts:smtppass-1@mail.internal:587", "smtppass-1", "smtp://[redacted]@mail.internal:587"],
      ["Authorization: Basic YWxlcnRzOnNtdHBwYXNz", "YWxlcnRzOnNtdHBwYXNz", "Authorization: [redacted]"],
      ["headers {authorization: Token tok-abcdef123}", "tok-abcdef123", "authorization: [redacted]"],
      ["sent with Basic YWxlcnRzOnNtdHBwYXNz", "YWxlcnRzOnNtdHBwYXNz", "Basic [redacted]"],
      ["retrying with bearer tok-abcdef123", "tok-abcdef123", "Bearer [redacted]"],
      ["POST https://hooks.example.com/in?token=whtok-2&team=ops failed", "whtok-2", "?token=[redacted]&team=ops"],
      ["https://discord.com/api/webhooks/123/discsecret-3", "discsecret-3", "https://discord.com/api/webhooks/[redacted]"],
      [
        "jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U in header",
        "dozjgNryP4J3jVmNHl0w5N",
        "[redacted-jwt]",
      ],
      [`creds ${creds}`, "c2lnbmF0dXJl", "-----BEGIN NATS USER JWT-----[redacted]"],
    ];
    for (const [input, secret, kept] of cases) {
      const out = scrubSecrets(input);
      expect(out, input).not.toContain(secret);
      expect(out, input).toContain(kept);
    }
    expect(scrubSecrets(creds)).not.toContain("CCCCCCCCCC");
  });

  it("leaves ordinary text alone", () => {
    expect(scrubSecrets("budget acme.tenant.monthly at 90 % (http://127.0.0.1:8080/v1/budgets)")).toBe(
      "budget acme.tenant.monthly at 90 % (http://127.0.0.1:8080/v1/budgets)",
    );
  });
  it("keeps the text of an error logged as a string, scrubbed", () => {
    const { log, text } = capture();
    log.warn({ err: `publishing priced events failed: ${secrets.natsUrl} timed out` }, "will retry");
    const line = JSON.parse(text()) as { err: { message: string } };
    expect(line.err.message).toContain("publishing priced events failed");
    expect(line.err.message).toContain("timed out");
    expect(text()).not.toContain("natspass-42");
  });
});
