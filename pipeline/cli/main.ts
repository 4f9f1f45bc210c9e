// The costline command line. Names are stable: other tools rely on them.
//
//   npx costline up [--demo]              every stage in one process
//   npx costline run enrich ledger        chosen stages (/metrics, /healthz, /readyz on COSTLINE_METRICS_PORT)
//   npx costline run                      the API alone
//   npx costline publish --file events.ndjson
//   npx costline sql "SELECT count() FROM costline.ledger"
//   npx costline totals --tenant acme
//   npx costline export focus --from 2026-11-01T00:00:00Z --to 2026-12-01T00:00:00Z --format parquet --output nov.parquet
//   npx costline price --provider openai --model gpt-4o --input-tokens 1000 --output-tokens 500
import { Command, InvalidArgumentError } from "commander";
import * as z from "zod";
import { loadConfig, type Config } from "../config/config.ts";
import { CostlineError, errorMessage } from "../errors.ts";
import { stageNames, stageSpecs, stagesHelp } from "../nats/stage-specs.ts";
import type { DlqOptions } from "./dlq-command.ts";

// Each command imports its module when it runs, so `costline price` loads the
// pricing code and not the stack, the API or the notifiers.
type Deferred<F> = F extends (...a: infer A) => infer R ? (...a: A) => Promise<Awaited<R>> : never;
/** `name` of the module `load` imports, imported on the first call. */
function lazy<M, K extends keyof M>(load: () => Promise<M>, name: K): Deferred<M[K]> {
  return (async (...a: unknown[]) => ((await load())[name] as (...a: unknown[]) => unknown)(...a)) as Deferred<M[K]>;
}
/** An object of commands (budgetsCommand, …) whose module is imported on the first call. */
function lazyGroup<M, K extends keyof M, N extends keyof M[K]>(
  load: () => Promise<M>,
  group: K,
  names: N[],
): { [P in N]: Deferred<M[K][P]> } {
  return Object.fromEntries(names.map((n) => [n, lazy(async () => (await load())[group], n)])) as { [P in N]: Deferred<M[K][P]> };
}
const upCommand = () => import("./up-command.ts");
const queryCommands = () => import("./query-commands.ts");
const controls = () => import("./controls-command.ts");
const runUp = lazy(upCommand, "runUp");
const runStages = lazy(upCommand, "runStages");
const runSql = lazy(queryCommands, "runSql");
const runTotals = lazy(queryCommands, "runTotals");
const runPublish = lazy(() => import("./publish-command.ts"), "runPublish");
const runPrice = lazy(() => import("./price-command.ts"), "runPrice");
const runKeys = lazy(() => import("./keys-command.ts"), "runKeys");
const runDlq = lazy(() => import("./dlq-command.ts"), "runDlq");
const runAlertsList = lazy(() => import("./alerts-command.ts"), "runAlertsList");
const runFocusExport = lazy(() => import("./export-command.ts"), "runFocusExport");
const runDetect = lazy(() => import("./detect-command.ts"), "runDetect");
const pricesCommand = lazyGroup(() => import("./prices-command.ts"), "pricesCommand", ["list", "show", "set", "import", "diff"]);
const runReprice = lazy(() => import("./prices-command.ts"), "runReprice");
const runReconcile = lazy(() => import("./prices-command.ts"), "runReconcile");
const budgetsCommand = lazyGroup(controls, "budgetsCommand", ["list", "set", "delete", "history", "status"]);
const controlsCommand = lazyGroup(controls, "controlsCommand", ["list", "set", "clear"]);
const silencesCommand = lazyGroup(() => import("./silences-command.ts"), "silencesCommand", ["list", "add", "expire"]);
import type { AlertsListOptions } from "./alerts-command.ts";

/** The options naming a scope: a tenant and at most one of its dimensions. */
function scopeOptions(cmd: Command): Command {
  return cmd
    .requiredOption("--tenant <tenant>")
    .option("--persona <id>")
    .option("--feature <name>")
    .option("--user <id>")
    .option("--model <id>");
}

const int = (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError("a whole number ≥ 0");
  return n;
};

export function buildCli(config: () => Config): Command {
  const program = new Command("costline").description("Real-time cost ledger and guard for LLM-driven products").showHelpAfterError();
  program
    .command("up")
    .description("run every stage in one process (embedded NATS and ClickHouse unless NATS_URL / CLICKHOUSE_URL are set)")
    .option("--demo", "also publish realistic multi-tenant demo traffic")
    .action((o: { demo?: boolean }) => runUp(config(), { demo: Boolean(o.demo) }));
  program
    .command("run")
    .description(
      `run chosen stages (${stageNames.join(", ")}) in this process, ` +
        "serving /metrics, /healthz and /readyz on COSTLINE_METRICS_PORT (default COSTLINE_API_PORT); with none, the API alone",
    )
    .argument("[stages...]")
    .addHelpText("after", `\nStages:\n${stagesHelp()}`)
    .option("--api", "also serve the HTTP API (which carries /metrics, /healthz and /readyz)")
    .action((stages: string[], o: { api?: boolean }) => runStages(config(), stages, { api: o.api }));
  program
    .command("publish")
    .description("publish CloudEvents from an NDJSON file (or stdin); bad lines are reported with their number")
    .option("--file <path>", "NDJSON file; stdin when absent or '-'")
    .action((o: { file?: string }) => runPublish(config(), o.file));
  program
    .command("sql")
    .description("read-only SQL against the ledger, JSONEachRow to stdout")
    .argument("<query>")
    .action((q: string) => runSql(config(), q));
  program
    .command("totals")
    .description('exact ledger totals as JSON: {"events", "cost_usd", "unpriced_events"}')
    .option("--tenant <tenant>")
    .option("--from <iso>")
    .option("--to <iso>")
    .action((o: { tenant?: string; from?: string; to?: string }) => runTotals(config(), o));
  const keys = program.command("keys").description("API keys: a tenant key sees only its tenant; an admin key sees all");
  keys
    .command("create")
    .description("create a key and print it once (only its hash is stored)")
    .option("--tenant <tenant>", "scope the key to this tenant")
    .option("--admin", "an admin key")
    .option("--name <name>", "a label")
    .option("--nats", "instead: a NATS user for the tenant's producers (publish its events, read its controls and budgets)")
    .action((o: { tenant?: string; admin?: boolean; name?: string; nats?: boolean }) => runKeys(config(), { kind: "create", ...o }));
  keys
    .command("list")
    .description("list keys (never their secrets)")
    .option("--nats", "the NATS producer users instead")
    .action((o: { nats?: boolean }) => runKeys(config(), { kind: "list", ...o }));
  keys
    .command("revoke")
    .argument("<key-id>")
    .description("revoke a key (with --nats: a NATS producer user; the server refuses it from its reload on)")
    .option("--nats", "the argument is a NATS producer user")
    .action((id: string, o: { nats?: boolean }) => runKeys(config(), { kind: "revoke", id, ...o }));
  const dlq = program.command("dlq").description("the dead-letter queue: list, count, retry or delete records (straight over NATS)");
  const dlqFilters = (cmd: Command) =>
    cmd
      .option(
        "--stage <stage>",
        `the stage that wrote the record (${stageNames.filter((n) => stageSpecs[n].consumers.length > 0).join(", ")})`,
      )
      .option(
        "--reason <reason>",
        "validation, not_json, oversized, unknown_type, invalid_usage, poison, timeout, unavailable, delivery_failed",
      )
      .option("--since <when>", "failed at or after: an ISO time, or an age such as 30m, 2h, 7d")
      .option("--until <when>", "failed before: an ISO time or an age")
      .option("--tenant <tenant>", "the failed event's tenant")
      .option("--subject <text>", "the original subject contains this")
      .option("--limit <n>", "at most this many records");
  dlqFilters(
    dlq.command("list").description("records, oldest first (50 unless --limit): seq, failed at, stage, reason, subject, deliveries, error"),
  )
    .option("--json", "one JSON object per line")
    .option("--payload", "with --json: include the original message as text")
    .action((o: DlqOptions) => runDlq(config(), "list", o));
  dlqFilters(dlq.command("stats").description("counts by stage and reason, and by tenant"))
    .option("--json", "one JSON document")
    .action((o: DlqOptions) => runDlq(config(), "stats", o));
  dlqFilters(
    dlq.command("retry").description("republish the originals to their subjects, for their stage only, and remove the records"),
  ).action((o: DlqOptions) => runDlq(config(), "retry", o));
  dlqFilters(dlq.command("purge").description("delete the matching records (with --yes; without a filter, also --all)"))
    .option("--yes", "really delete")
    .option("--all", "allow a purge with no filter (every record)")
    .action((o: DlqOptions) => runDlq(config(), "purge", o));
  const budgets = program
    .command("budgets")
    .description("spend limits per scope (tenant, persona, feature, user, model) and period (soft: alerts; hard: pause at 100 %)");
  const budgetScope = (cmd: Command) => scopeOptions(cmd).requiredOption("--period <period>", "daily, weekly, monthly or rolling_30d");
  budgets
    .command("list")
    .description("budgets with the spend of their current period")
    .action(() => budgetsCommand.list(config()));
  budgetScope(budgets.command("set"))
    .requiredOption("--amount <usd>", "a decimal amount, e.g. 500")
    .option("--timezone <zone>", "IANA zone whose days, weeks and months the period follows (default UTC)")
    .option("--hard", "pause the scope when the budget is spent")
    .option("--thresholds <list>", "alert at these shares, e.g. 0.5,0.75,0.9,1")
    .action((o) => budgetsCommand.set(config(), o));
  budgetScope(budgets.command("delete")).action((o) => budgetsCommand.delete(config(), o));
  budgets
    .command("history")
    .description("budget changes, newest first")
    .option("--tenant <tenant>")
    .option("--limit <n>")
    .action((o: { tenant?: string; limit?: string }) => budgetsCommand.history(config(), o));
  budgets
    .command("status")
    .description("per budget: spent, reserved, remaining, projected end of period, thresholds crossed")
    .option("--tenant <tenant>")
    .action((o: { tenant?: string }) => budgetsCommand.status(config(), o));
  const controls = program.command("controls").description("throttle, downgrade or pause a scope (an operator's override)");
  const scoped = (cmd: Command) => scopeOptions(cmd).requiredOption("--reason <text>");
  controls.command("list").action(() => controlsCommand.list(config()));
  scoped(controls.command("set"))
    .requiredOption("--state <state>", "closed, throttled, degraded or open")
    .option("--rpm <n>", "throttled: requests per minute")
    .option("--tpm <n>", "throttled: tokens per minute")
    .option("--map <from=to...>", "degraded: model map, e.g. gpt-4o=gpt-4o-mini")
    .option("--until <iso>", "open: paused until")
    .option("--expires <iso>", "the override ends at this time")
    .action((o) => controlsCommand.set(config(), o));
  scoped(controls.command("clear")).action((o) => controlsCommand.clear(config(), o));
  const silences = program.command("silences").description("mute notifications for alerts matching labels, until a time");
  silences
    .command("list")
    .option("--state <state>", "active, pending, expired or all (default all)")
    .action((o: { state?: string }) => silencesCommand.list(config(), o));
  silences
    .command("add")
    .description("e.g. --matcher tenant=acme --matcher 'type=~\"spike|creep\"' --duration 2h --comment 'load test'")
    .requiredOption(
      "--matcher <label=value...>",
      "label=value, label!=value, label=~regex or label!~regex (repeat for more; all must match)",
    )
    .option("--duration <d>", "how long, e.g. 30m, 2h, 1d")
    .option("--until <iso>", "instead of --duration: when it ends")
    .option("--start <iso>", "when it starts (default now)")
    .requiredOption("--comment <text>", "why")
    .action((o) => silencesCommand.add(config(), o));
  silences
    .command("expire")
    .argument("<id>")
    .description("end a silence now (it stays listed as expired)")
    .action((id: string) => silencesCommand.expire(config(), id));
  program
    .command("alerts")
    .description("alerts raised by the detector (a tenant key: its tenant's)")
    .command("list")
    .description("newest first, as JSON: {alerts: [...], next_offset}")
    .option("--state <state>", "firing, resolved or all (default all)")
    .option("--severity <list>", "e.g. high,critical")
    .option("--type <list>", "e.g. spike,budget")
    .option("--scope <scope>", "tenant, persona, feature, user, model, …")
    .option("--tenant <tenant>", "an admin key: one tenant only")
    .option("--since <iso>", "detected at or after")
    .option("--until <iso>", "detected before")
    .option("--limit <n>", "page size, at most 500 (default 100)")
    .option("--offset <n>", "skip this many (the previous answer's next_offset)")
    .action((o: AlertsListOptions) => runAlertsList(config(), o));
  program
    .command("detect")
    .description(
      "the detection engine offline: --list its detectors; --input/--output a timestamp,value CSV " +
        "(writes timestamp,value,anomaly_score,is_anomaly); --tenant with --from/--to replays the tenant's windows " +
        "from the ledger through the detector stage's engine and prints the alerts it would have raised (JSON lines)",
    )
    .option("--list", "print the series detectors and cost checks with their parameters (JSON lines)")
    .option("--input <file|dir>", "a timestamp,value CSV, or a directory whose CSVs are all replayed")
    .option("--output <file|dir>", "where the scored CSV goes, or a directory mirroring the input directory")
    .option("--detector <name>", "a series detector from --list (default: the configured one)")
    .option("--param <name=value...>", "a parameter of the detector (repeat for more)")
    .option("--tenant <tenant>", "replay this tenant's history from the ledger")
    .option(
      "--scope <list>",
      "comma-separated scopes: tenant, tenant_model, tenant_persona, tenant_feature, tenant_operation, post (default all)",
    )
    .option("--from <iso>", "replay from (default: 24 h before --to)")
    .option("--to <iso>", "replay until (default now)")
    .option("--warmup-hours <h>", "history before --from that warms the baselines (default COSTLINE_DETECTOR_WARM_START_H)")
    .action((o) => runDetect(config, o));
  program
    .command("price")
    .description("price one LLM call and print the result as JSON")
    .option("--provider <id>", "the provider (default: named by the model id, openai/gpt-4o, or the one provider pricing it)")
    .requiredOption("--model <id>")
    .option("--input-tokens <n>", "all input tokens, cached included", int, 0)
    .option("--output-tokens <n>", "output tokens", int, 0)
    .option("--cache-read-tokens <n>", "input tokens read from cache", int)
    .option("--cache-write-tokens <n>", "input tokens written to cache", int)
    .option("--batch", "a Batch API call (the provider's batch discount applies)")
    .option("--tenant <tenant>", "price for this tenant (its configured prices and discounts)")
    .option("--at <iso>", "price in force at this time (default now)")
    .action((o) => runPrice(config(), o));
  const prices = program.command("prices").description("the versioned price catalog (through the running stack's API)");
  prices
    .command("list")
    .description("the catalog's prices at a version (default the newest)")
    .option("--version <n>")
    .option("--provider <id>")
    .option("--model <id>")
    .option("--tenant <tenant>")
    .action((o) => pricesCommand.list(config(), o));
  prices
    .command("show")
    .description("every layer's price for one model: catalog, configuration, shipped corrections, bundled library")
    .requiredOption("--model <id>")
    .option("--provider <id>")
    .option("--tenant <tenant>")
    .option("--at <iso>", "the library price in force at this time (default now)")
    .action((o) => pricesCommand.show(config(), o));
  prices
    .command("set")
    .description("set a price from a date (a new catalog version); --tenant for a tenant's own price")
    .requiredOption("--provider <id>")
    .requiredOption("--model <id>")
    .requiredOption("--from <iso>", "in force from (inclusive)")
    .option("--to <iso>", "in force until (exclusive)")
    .option("--tenant <tenant>")
    .requiredOption("--price <key=value...>", "a price per the library's units, e.g. input_mtok=2.5 (repeat)")
    .option("--layer <layer>", "tenant, deployment or overlay (default: tenant with --tenant, else deployment)")
    .option("--source <text>", "where the price comes from (a URL, a contract)")
    .option("--note <text>")
    .action((o) => pricesCommand.set(config(), o));
  prices
    .command("import")
    .description("import prices from a JSON array, {entries: [...]} or NDJSON file (one new catalog version)")
    .requiredOption("--file <path>")
    .action((o) => pricesCommand.import(config(), o));
  prices
    .command("diff")
    .description("what changed between two catalog versions")
    .requiredOption("--from <n>")
    .option("--to <n>", "default the newest")
    .action((o) => pricesCommand.diff(config(), o));
  program
    .command("reprice")
    .description(
      "re-price a period's LLM events with the prices in force at their time; prints old and new totals, writes corrections on confirmation",
    )
    .requiredOption("--from <iso>")
    .requiredOption("--to <iso>")
    .option("--tenant <tenant>")
    .option("--model <id>")
    .option("--dry-run", "only print what would change")
    .option("--yes", "write without asking")
    .option("--reason <text>", "recorded in the audit")
    .action((o) => runReprice(config(), o));
  program
    .command("reconcile")
    .description(
      "compare a provider's cost export (OpenAI organization costs, Anthropic cost report, AWS FOCUS or CUR 2.0 CSV) with the ledger per day × model; drift above the threshold raises reconciliation_drift",
    )
    .requiredOption("--file <path>")
    .option("--format <format>", "openai, anthropic, focus or cur (default: recognised from the file)")
    .option("--tenant <tenant>", "compare with this tenant's ledger rows only (one provider account per tenant)")
    .option("--threshold <share>", "drift allowed before alerting, e.g. 0.05 (default COSTLINE_RECONCILE_DRIFT_THRESHOLD)")
    .action((o) => runReconcile(config(), o));
  program
    .command("export")
    .description("export the ledger for other tools")
    .command("focus")
    .description("FOCUS 1.2 cost and usage rows (hourly) for FinOps tools, written by ClickHouse as CSV or Parquet")
    .requiredOption("--from <iso>", "from this time (inclusive)")
    .requiredOption("--to <iso>", "to this time (exclusive)")
    .option("--format <format>", "csv or parquet", "csv")
    .option("--tenant <tenant>", "one tenant (an admin key exports all without it)")
    .option("--output <file>", "write here instead of stdout")
    .action((o) => runFocusExport(config(), o));
  return program;
}

/** Commands that run for long: they keep zod's compiled parsers, which pay off after the first few thousand parses. */
const longRunning = new Set(["up", "run", "publish"]);

export async function main(argv: string[]): Promise<void> {
  // A one-shot command parses its configuration once: compiling zod's fast
  // parsers for it costs more (about 100 ms of a CLI call) than it saves.
  if (!longRunning.has(argv[2] ?? "")) z.config({ jitless: true });
  let cached: Config | undefined;
  const program = buildCli(() => (cached ??= loadConfig()));
  try {
    await program.parseAsync(argv);
  } catch (err) {
    process.stderr.write(`costline: ${err instanceof CostlineError ? err.message : errorMessage(err)}\n`);
    if (!(err instanceof CostlineError) && process.env.COSTLINE_DEBUG) console.error(err);
    process.exitCode = 1;
  }
}
