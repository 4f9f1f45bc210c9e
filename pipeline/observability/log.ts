// Structured JSON logs (pino). One root logger per process; stages take a
// child (`stage` on every line; the runner adds an event's `traceId` and
// `requestId` where a line is about one event, the API its `requestId`).
// Secrets never reach a line: fields that hold them are censored by name
// (pino's redact paths, and the same names at any depth and in any case), and
// any string that carries credentials in a URL, a bearer or basic token, an
// API key, a JWT, a webhook address or a secret query parameter is scrubbed
// wherever it appears (messages, fields, error messages, stacks).
import { pino, destination, stdTimeFunctions, stdSerializers, type Logger } from "pino";

export type { Logger };

const secretKeys = [
  "password",
  "pass",
  "token",
  "secret",
  "authorization",
  "apiKey",
  "api_key",
  "adminKey",
  "clientKey",
  "credsFile",
  "creds",
  "nkeySeed",
  "seed",
  "routing_key",
  "routingKey",
  "webhook",
  "webhook_url",
  "webhookUrl",
  "smtp",
  "auth",
];

/**
 * pino redact paths: the secret fields at the top level and in request headers. Deeper ones are
 * censored by name in the log formatter (any depth, any case): pino's wildcard paths (`*.*.token`)
 * cost about 40 µs a line, which a flood of dead letters would pay on every one.
 */
export const redactPaths = [
  ...secretKeys,
  "req.headers.authorization",
  'req.headers["x-api-key"]',
  "headers.authorization",
  'headers["x-api-key"]',
];

/** Field names that hold secrets whatever their case, `_` or `-` (input_tokens and scope_key are not among them). */
const secretNames = new Set(
  [
    ...secretKeys,
    "passwd",
    "credentials",
    "private_key",
    "access_token",
    "refresh_token",
    "client_secret",
    "integration_key",
    "x-api-key",
    "cookie",
    "set-cookie",
    "metrics_token",
    "admin_key",
    "nats_password",
    "nats_token",
    "nats_nkey_seed",
    "nats_creds",
    "clickhouse_password",
    "costline_admin_key",
    "costline_api_key",
    "costline_metrics_token",
    "smtp_password",
    "smtp_pass",
  ].map((k) => k.toLowerCase().replace(/[_-]/g, "")),
);
export const isSecretName = (key: string): boolean => {
  const k = key.toLowerCase().replace(/[_-]/g, "");
  return secretNames.has(k) || k.endsWith("password") || k.endsWith("secret");
};

const scrubbers: [RegExp, string][] = [
  [/([a-z][a-z0-9+.-]*:\/\/)[^@/\s,"']+@/gi, "$1[redacted]@"], // user:password@ in any URL (nats, smtp, http, …)
  [/\bBearer\s+[A-Za-z0-9._~+/=-]+/gi, "Bearer [redacted]"],
  [/\bBasic\s+[A-Za-z0-9+/]{8,}={0,2}/g, "Basic [redacted]"],
  // A header quoted in text ("Authorization: Token abc", authorization="…"): whatever its scheme.
  [/(\bauthorization["']?\s*[:=]\s*["']?)(?:[A-Za-z]+\s+)?[^\s"',;]+/gi, "$1[redacted]"],
  [/\bcl_[a-z0-9]{12}_[A-Za-z0-9_-]{8,}/g, "cl_[redacted]"], // costline API keys
  [/https:\/\/hooks\.slack\.com\/[^\s"']+/g, "https://hooks.slack.com/[redacted]"],
  [/(https:\/\/[^\s"'/]*(?:discord(?:app)?\.com\/api\/webhooks|webhook\.office\.com\/webhookb2)\/)[^\s"']+/g, "$1[redacted]"],
  // Secrets in a query string (a webhook's ?token=…, a signed URL's &sig=…).
  [/([?&](?:[a-z_]*token|secret|sig|signature|password|passwd|api_?key|apikey|auth|code)=)[^&#\s"']+/gi, "$1[redacted]"],
  [/\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*/g, "[redacted-jwt]"], // JWTs (NATS user JWTs, OAuth tokens)
  [/\bS[UAONCX][A-Z2-7]{50,}/g, "S[redacted]"], // NATS nkey seeds (user, account, operator, server, cluster, curve)
  [/(-----BEGIN [A-Z ]+-----)[\s\S]*?(-----END [A-Z ]+-----)/g, "$1[redacted]$2"], // PEM blocks and NATS creds files
];

/** Text none of the scrubbers can match (most log text): one cheap test instead of all of them. */
const mayHoldSecret = /:\/\/|bearer|basic|authorization|cl_|eyJ|-----BEGIN|[?&][a-z_]*=|\bS[UAONCX][A-Z2-7]{50}/i;

/** Removes secrets from free text. */
export function scrubSecrets(text: string): string {
  if (!mayHoldSecret.test(text)) return text;
  let out = text;
  for (const [re, by] of scrubbers) out = out.replace(re, by);
  return out;
}

function scrubDeep(value: unknown, depth = 0): unknown {
  if (typeof value === "string") return scrubSecrets(value);
  // Errors are left to the err serializer, which runs after this and scrubs them.
  if (depth > 8 || value === null || typeof value !== "object" || value instanceof Error) return value;
  if (Array.isArray(value)) return value.map((v) => scrubDeep(v, depth + 1));
  return Object.fromEntries(
    Object.entries(value).map(([k, v]) => [
      k,
      v !== undefined && v !== null && v !== "" && isSecretName(k) ? "[redacted]" : scrubDeep(v, depth + 1),
    ]),
  );
}

/** An error as a plain object (pino's has its fields on a prototype), scrubbed. */
function serializeError(err: Error): Record<string, unknown> {
  // `err: someError.message` (a string) is common: keep its text rather than empty fields.
  if (!(err instanceof Error)) return { message: scrubSecrets(String(err)) };
  const e = stdSerializers.err(err) as unknown as Record<string, unknown>;
  const out: Record<string, unknown> = {
    type: e.type,
    message: scrubSecrets(String(e.message ?? "")),
    stack: scrubSecrets(String(e.stack ?? "")),
  };
  for (const k of ["code", "reason", "status"]) if (e[k] !== undefined) out[k] = e[k];
  if (err.cause instanceof Error) out.cause = serializeError(err.cause);
  return out;
}

export const logOptions = {
  base: { app: "costline" },
  timestamp: stdTimeFunctions.isoTime,
  redact: { paths: redactPaths, censor: "[redacted]" },
  serializers: { err: serializeError },
  hooks: {
    // Message text and string arguments may quote a URL or a header: scrub them too.
    logMethod(this: Logger, args: unknown[], method: (...a: unknown[]) => void) {
      method.apply(
        this,
        args.map((a) => (typeof a === "string" ? scrubSecrets(a) : a)),
      );
    },
  },
  formatters: {
    log: (obj: Record<string, unknown>) => scrubDeep(obj) as Record<string, unknown>,
  },
};

/** Logs to `file` when given (the terminal stays readable), otherwise to stderr. */
export function createLogger(level: string, file?: string): Logger {
  return pino({ level, ...logOptions }, file ? destination({ dest: file, mkdir: true, sync: false }) : destination(2));
}
