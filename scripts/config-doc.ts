// Writes docs/configuration.md from the zod configuration schema
// (pipeline/config/config.ts): each variable's default and accepted values
// come from the schema, its description from the doc comment above it (or
// NOTES below). `npm run docs:config` rewrites the file; a unit test fails
// when the file and the schema disagree, or a variable has no description.
//
//   npm run docs:config
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import * as prettier from "prettier";
import ts from "typescript";
import * as z from "zod";
import { envSchema, fileSchema } from "../pipeline/config/config.ts";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
export const docPath = path.join(root, "docs", "configuration.md");

/** What a variable without a doc comment of its own does, and the default where the schema's says too little. */
const NOTES: Record<string, { default?: string; note?: string }> = {
  COSTLINE_HOME: { note: "embedded data, logs, `stack.json`" },
  NATS_URL: { default: "(embedded)", note: "one or more comma-separated URLs of a NATS server with JetStream" },
  NATS_USER: { note: "NATS credentials: user and password, a token, an nkey seed or a creds file ([nats-security.md](nats-security.md))" },
  NATS_PASSWORD: { note: "with NATS_USER" },
  NATS_TOKEN: { note: "a NATS token" },
  NATS_CREDS: { note: "a NATS creds file (JWT and nkey)" },
  NATS_NKEY_SEED_FILE: { note: "the nkey seed in a file" },
  NATS_SERVER_BIN: { note: "the nats-server the embedded stack starts" },
  CLICKHOUSE_URL: { default: "(embedded)", note: "a ClickHouse server over HTTP instead of the embedded engine" },
  CLICKHOUSE_USER: { note: "its user" },
  CLICKHOUSE_PASSWORD: { note: "its password" },
  COSTLINE_CLICKHOUSE_HTTP_PORT: { default: "(off)", note: "0–65535; `stack.json` gets `clickhouse_url` ([console.md](console.md))" },
  COSTLINE_API_PORT: { note: "the API's port; `0` picks a free one" },
  COSTLINE_API_HOST: { note: "the API's address" },
  COSTLINE_SUBJECT_PREFIX: { note: "the first token of every NATS subject" },
  COSTLINE_LOG_LEVEL: { note: "pino's log level" },
  COSTLINE_ENRICH_BATCH: { note: "events priced per enrich batch" },
  COSTLINE_ENRICH_FLUSH_MS: { note: "the longest an enrich batch waits" },
  COSTLINE_ACK_WAIT_S: { note: "JetStream's ack wait for the stages' consumers" },
  COSTLINE_MAX_DELIVER: { note: "deliveries before a failing message is parked in the DLQ" },
  COSTLINE_STREAM_MAX_AGE_H: { note: "how long the events streams keep messages" },
  COSTLINE_DEMO_RATE: { note: "events per second of `--demo` traffic" },
  COSTLINE_ALLOCATION_DRIVER: { note: "what shared costs are split by" },
  COSTLINE_ALLOCATION_INTERVAL_S: { note: "how often allocation runs" },
  COSTLINE_ALLOWED_LATENESS_S: { note: "how late an event may still change its window (it also delays allocation)" },
  COSTLINE_WINDOW_EMIT_MS: { note: "how often open windows are published" },
  COSTLINE_DETECTOR_WARM_START_H: { note: "history the detector restores at start" },
  COSTLINE_COST_PER_POST_MULTIPLE: { note: "a post costing this many times the target is an anomaly" },
  COSTLINE_PAUSE_MINUTES: { note: "how long a critical anomaly pauses a persona" },
  COSTLINE_HEALTH_STALL_S: { note: "waiting and unmoved this long is stalled" },
  COSTLINE_HEALTH_POLL_MS: { note: "how often consumers are polled" },
  COSTLINE_DLQ_MAX_MESSAGES: { note: "the DLQ stream's message limit" },
  COSTLINE_DLQ_MAX_BYTES: { note: "the DLQ stream's byte limit (a record keeps up to 512 KiB of its message)" },
  COSTLINE_METRICS_PORT: { default: "(the API port)", note: "0–65535" },
  COSTLINE_METRICS_MAX_MODELS: { note: "models named in `costline_cost_usd_total`; later ones count as `other`" },
  COSTLINE_QUERY_MAX_RESULT_ROWS: { note: "see [sql-and-api-limits.md](sql-and-api-limits.md)" },
  COSTLINE_QUERY_MAX_RESULT_BYTES: { note: "see [sql-and-api-limits.md](sql-and-api-limits.md)" },
  COSTLINE_QUERY_MAX_MEMORY_BYTES: { note: "see [sql-and-api-limits.md](sql-and-api-limits.md)" },
  COSTLINE_API_BURST: { note: "per key; past it `429` with `Retry-After`" },
  COSTLINE_API_MAX_CONCURRENT_PER_KEY: { note: "per key" },
  COSTLINE_API_KEY_CACHE_TTL_MS: { note: "how long a look-up is remembered" },
  COSTLINE_CONFIG: { note: "a JSON file of structured settings (below)" },
  COSTLINE_RESERVATION_SETTLED_GRACE_S: { note: "([budget-reservations.md](budget-reservations.md))" },
  COSTLINE_DETECTOR: {
    default: "`spike`",
    note: "parameters, checks and sensitivity in the file's `detection` ([detection-engine.md](detection-engine.md))",
  },
  COSTLINE_OTLP_ATTRIBUTES: { note: "for `POST /v1/traces` ([otlp-and-focus.md](otlp-and-focus.md))" },
  "file.pricing": {
    note: "prices of your own: per model, per provider, with start dates, beating the catalogue ([pricing.md](pricing.md))",
  },
  "file.rateCards": { note: "the unit prices of non-LLM usage (infra, storage, vendors) ([pricing.md](pricing.md))" },
};

/** The doc comments above the properties of `name`'s object literal in config.ts, by property name. */
function docComments(name: string): Map<string, string> {
  const file = path.join(root, "pipeline/config/config.ts");
  const text = readFileSync(file, "utf8");
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const out = new Map<string, string>();
  const visit = (node: ts.Node): void => {
    if (ts.isVariableDeclaration(node) && node.name.getText(source) === name) {
      const literal = findObjectLiteral(node);
      for (const p of literal?.properties ?? []) {
        if (!ts.isPropertyAssignment(p)) continue;
        const comments = ts.getLeadingCommentRanges(text, p.getFullStart()) ?? [];
        const doc = comments.map((c) => text.slice(c.pos, c.end)).find((c) => c.startsWith("/**"));
        if (doc)
          out.set(
            p.name.getText(source),
            doc
              .replace(/^\/\*\*|\*\/$/g, "")
              .split("\n")
              .map((l) => l.replace(/^\s*\*\s?/, "").trim())
              .filter(Boolean)
              .join(" "),
          );
      }
      return;
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return out;
}

function findObjectLiteral(node: ts.Node): ts.ObjectLiteralExpression | undefined {
  if (ts.isObjectLiteralExpression(node)) return node;
  let found: ts.ObjectLiteralExpression | undefined;
  ts.forEachChild(node, (child) => {
    found ??= findObjectLiteral(child);
  });
  return found;
}

type JsonSchema = {
  type?: string;
  default?: unknown;
  enum?: unknown[];
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  pattern?: string;
};

const cell = (s: string) => s.replace(/\|/g, "\\|").replace(/\n/g, " ");
const code = (v: unknown) => `\`${String(v)}\``;

function accepts(s: JsonSchema): string {
  if (s.enum) return s.enum.map(code).join(", ");
  const low = s.minimum ?? (s.exclusiveMinimum !== undefined ? `> ${s.exclusiveMinimum}` : undefined);
  if (s.type === "integer" || s.type === "number") {
    const kind = s.type === "integer" ? "integer" : "number";
    if (low !== undefined && s.maximum !== undefined) return `${kind} ${low}–${s.maximum}`;
    if (low !== undefined) return `${kind} ${typeof low === "number" ? `≥ ${low}` : low}`;
    return kind;
  }
  return s.pattern ? `text matching ${code(s.pattern)}` : "text";
}

/** The document, formatted as `prettier --check` expects it. */
export async function renderConfigDoc(): Promise<string> {
  const env = z.toJSONSchema(envSchema, { io: "input", unrepresentable: "any" }) as { properties: Record<string, JsonSchema> };
  const envDocs = docComments("envSchema");
  const fileDocs = docComments("fileSchema");
  const rows = Object.keys(envSchema.shape).map((name) => {
    const s = env.properties[name] ?? {};
    const note = NOTES[name];
    const def = note?.default ?? (s.default === undefined ? "" : code(s.default));
    const what = [envDocs.get(name), note?.note].filter(Boolean).join(" ");
    return `| \`${name}\` | ${cell(def)} | ${cell(accepts(s))} | ${cell(what)} |`;
  });
  const sections = Object.keys(fileSchema.shape).map(
    (k) => `- \`${k}\`: ${[fileDocs.get(k), NOTES[`file.${k}`]?.note].filter(Boolean).join(" ")}`,
  );
  const text = `# Configuration

<!-- Generated from pipeline/config/config.ts by \`npm run docs:config\`; edit the schema (or scripts/config-doc.ts), not this file. -->

Environment variables, parsed once with zod and validated at start: a bad
value stops the process with every problem listed. An optional JSON file named
by \`COSTLINE_CONFIG\` holds structured settings.

## Environment variables

| variable | default | accepts | what it does |
| --- | --- | --- | --- |
${rows.join("\n")}

## The configuration file (\`COSTLINE_CONFIG\`)

A JSON object; unknown keys are refused. Its sections:

${sections.join("\n")}

Prices and rate cards: [pricing.md](pricing.md). Notification channels and
routes: [notifications.md](notifications.md). Detection:
[detection-engine.md](detection-engine.md).

## Read elsewhere

- Notification secrets named in the file's \`notify\` section (\`{"env": "NAME"}\`) are read from the environment when the notifier starts ([notifications.md](notifications.md)).
- \`COSTLINE_NATS_PIPELINE_PASSWORD\` / \`_OPERATOR_PASSWORD\` / \`_PUBLISHER_PASSWORD\` (compose only): the built-in NATS users' passwords in \`deploy/nats/nats.conf\`; the embedded server generates its own under \`$COSTLINE_HOME/nats-auth/\` ([nats-security.md](nats-security.md)).
- \`CHROMIUM_BIN\` (tests only, default \`/usr/bin/chromium\`): the browser the console's tests drive.
`;
  const options = (await prettier.resolveConfig(docPath)) ?? {};
  return prettier.format(text, { ...options, filepath: docPath });
}

/** Variables with neither a doc comment nor a note. */
export function undocumented(): string[] {
  const envDocs = docComments("envSchema");
  return Object.keys(envSchema.shape).filter((n) => !envDocs.has(n) && !NOTES[n]?.note);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  writeFileSync(docPath, await renderConfigDoc());
  console.log(`wrote ${path.relative(process.cwd(), docPath)}`);
}
