// The one configuration schema: environment variables (and an optional JSON
// file named by COSTLINE_CONFIG) parsed once at start-up and passed down.
import { readFileSync } from "node:fs";
import path from "node:path";
import * as z from "zod";
import { ConfigError, formatIssues } from "../errors.ts";
import { pricingConfigSchema, rateCardsSchema } from "../pricing/pricing-config.ts";
import { defaultDowngrades } from "./downgrades.ts";
import { resolveNotifyConfig } from "./notify-config.ts";
import { detectionSchema } from "../detect/cost-checks.ts";
import { defaultSeriesDetector, detectorParams } from "../detect/registry.ts";
import { parseOtlpAttributes } from "../otlp/otlp-config.ts";

const optionalString = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === "" ? undefined : v.trim()));

const intFrom = (def: number, min: number, max: number) => z.coerce.number().int().min(min).max(max).default(def);

export const envSchema = z.object({
  COSTLINE_HOME: z.string().default("./.costline"),
  NATS_URL: optionalString,
  NATS_USER: optionalString,
  NATS_PASSWORD: optionalString,
  NATS_TOKEN: optionalString,
  NATS_CREDS: optionalString,
  /** A user nkey seed ("SU…"), inline or in a file; the server holds the public key. */
  NATS_NKEY_SEED: optionalString,
  NATS_NKEY_SEED_FILE: optionalString,
  NATS_SERVER_BIN: z.string().default("nats-server"),
  CLICKHOUSE_URL: optionalString,
  CLICKHOUSE_USER: optionalString,
  CLICKHOUSE_PASSWORD: optionalString,
  /** `costline up` on the embedded engine serves it over ClickHouse's HTTP interface on this port (0 picks one); for Grafana. */
  COSTLINE_CLICKHOUSE_HTTP_PORT: optionalString.pipe(z.coerce.number<string | undefined>().int().min(0).max(65535).optional()),
  COSTLINE_API_PORT: intFrom(8080, 0, 65535),
  COSTLINE_API_HOST: z.string().default("127.0.0.1"),
  /** Largest request body the API reads; larger ones get 413. */
  COSTLINE_API_MAX_BODY_BYTES: intFrom(1_048_576, 1024, 104_857_600),
  COSTLINE_SUBJECT_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_-]+$/, "letters, digits, _ and - only")
    .default("costline"),
  COSTLINE_LOG_LEVEL: z.enum(["trace", "debug", "info", "warn", "error", "fatal", "silent"]).default("info"),
  /** JetStream's duplicate window for Nats-Msg-Id, in seconds. */
  COSTLINE_DUPLICATE_WINDOW_S: intFrom(600, 1, 86_400),
  /** Largest message a stage accepts; larger ones go to the DLQ as oversized. */
  COSTLINE_MAX_MESSAGE_BYTES: intFrom(1_048_576, 1024, 8_388_608),
  /** Events in one batch message; more is refused as oversized. */
  COSTLINE_MAX_BATCH_EVENTS: intFrom(1000, 1, 100_000),
  /** Priced messages per ledger insert (each carries up to 250 events). */
  COSTLINE_LEDGER_BATCH_MESSAGES: intFrom(40, 1, 10_000),
  /**
   * The least time between two ledger inserts of one partition. Each insert writes a part to the ledger and to each
   * of its six rollups, a fixed cost of the engine's CPU, so fewer and larger inserts are cheaper (docs/lean.md); a
   * busy partition fills its batch (COSTLINE_LEDGER_BATCH_MESSAGES) first.
   */
  COSTLINE_LEDGER_FLUSH_MS: intFrom(1000, 5, 10_000),
  /**
   * How long the first events after a quiet spell (no insert for COSTLINE_LEDGER_FLUSH_MS) wait for company
   * before their insert: a lone event is in the ledger this soon, while steady traffic still gets one insert
   * per COSTLINE_LEDGER_FLUSH_MS.
   */
  COSTLINE_LEDGER_LINGER_MS: intFrom(50, 0, 10_000),
  COSTLINE_ENRICH_BATCH: intFrom(500, 1, 10_000),
  COSTLINE_ENRICH_FLUSH_MS: intFrom(20, 1, 10_000),
  /** Enrich batches in flight at once (the ledger always settles one batch at a time). */
  COSTLINE_ENRICH_CONCURRENCY: intFrom(3, 1, 64),
  /** How often enrich looks for a new price catalog version (a price set through the API reaches new events within this). */
  COSTLINE_PRICE_CATALOG_REFRESH_MS: intFrom(5000, 100, 3_600_000),
  /** A reconciled day × model whose ledger total is off the provider's bill by more than this share raises reconciliation_drift. */
  COSTLINE_RECONCILE_DRIFT_THRESHOLD: z.coerce.number().min(0).max(100).default(0.05),
  /** How far back the ledger looks for already-stored ids before inserting. */
  COSTLINE_LEDGER_DEDUP_LOOKBACK_DAYS: intFrom(400, 1, 10_000),
  COSTLINE_ACK_WAIT_S: intFrom(30, 5, 3600),
  COSTLINE_MAX_DELIVER: intFrom(20, 2, 1000),
  COSTLINE_STREAM_MAX_AGE_H: intFrom(168, 1, 87_600),
  /** Copies JetStream keeps of every stream and KV bucket: 1 on one server, 3 on a three-node cluster (at most 5, JetStream's limit). */
  COSTLINE_STREAM_REPLICAS: intFrom(1, 1, 5),
  /** The ClickHouse cluster (a name in the servers' remote_servers) the migrations create their tables on; absent: one server. */
  COSTLINE_CLICKHOUSE_CLUSTER: optionalString.pipe(
    z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "a cluster name: letters, digits and _")
      .optional(),
  ),
  /** JSON: span/resource attribute names for persona_id, feature, post_id, … (tried before the defaults). */
  COSTLINE_OTLP_ATTRIBUTES: optionalString,
  /** Most rows one FOCUS export returns; a larger range is refused, asking for a narrower one. */
  COSTLINE_EXPORT_MAX_ROWS: intFrom(1_000_000, 1, 100_000_000),
  COSTLINE_DEMO_RATE: z.coerce.number().min(0.1).max(100_000).default(25),
  /** An admin API key to accept (production); the embedded default creates $COSTLINE_HOME/admin.key. */
  COSTLINE_ADMIN_KEY: optionalString,
  /** The key CLI commands present to the API (default: $COSTLINE_HOME/admin.key). */
  COSTLINE_API_KEY: optionalString,
  /** The cost a post should stay under; /v1/posts/{id}/summary rates posts against it. */
  COSTLINE_TARGET_COST_PER_POST: z
    .string()
    .regex(/^\d+(\.\d+)?$/)
    .refine((v) => Number(v) > 0, "must be above 0")
    .default("0.05"),
  /** Shared-cost allocation: window length, the driver, and how late a window may still change. */
  COSTLINE_ALLOCATION_WINDOW_S: intFrom(3600, 60, 86_400),
  COSTLINE_ALLOCATION_DRIVER: z.enum(["llm_tokens", "llm_cost", "requests"]).default("llm_tokens"),
  COSTLINE_ALLOCATION_INTERVAL_S: intFrom(10, 1, 3600),
  /** Event-time windows for the detector: length, allowed lateness, and how often open windows are published. */
  COSTLINE_WINDOW_S: intFrom(60, 1, 86_400),
  COSTLINE_ALLOWED_LATENESS_S: intFrom(120, 0, 86_400),
  COSTLINE_WINDOW_EMIT_MS: intFrom(500, 10, 60_000),
  /**
   * Messages a windower partition may hold unacknowledged (each until the next
   * checkpoint of its partition, see COSTLINE_WINDOW_CHECKPOINT_MS).
   */
  COSTLINE_WINDOWER_MAX_PENDING: intFrom(500_000, 1000, 50_000_000),
  /** How often the windower checkpoints each partition's open windows; a message is acknowledged once a checkpoint holds it. */
  COSTLINE_WINDOW_CHECKPOINT_MS: intFrom(1000, 50, 60_000),
  /** Partitions of the priced subjects (a stable hash of the tenant); stateful stages own them through leases. */
  COSTLINE_PARTITIONS: intFrom(8, 1, 1024),
  /** A partition lease lapses this long after its owner's last heartbeat (heartbeats every third of it). */
  COSTLINE_LEASE_TTL_MS: intFrom(10_000, 1000, 600_000),
  /**
   * A partition's owner that acknowledged nothing for this long while the partition's consumers
   * have messages waiting gives its lease up to another instance (0: never).
   */
  COSTLINE_PARTITION_STALL_S: intFrom(120, 0, 86_400),
  /**
   * This process's name in the lease bucket (default: host, pid and a random suffix). Two live
   * processes must never share one: a process started under a name takes that name's leases over at once.
   */
  COSTLINE_INSTANCE_ID: optionalString,
  /** Detector: how long a firing alert stays quiet before it is repeated, and how much history a start restores. */
  COSTLINE_ALERT_COOLDOWN_S: intFrom(3600, 0, 604_800),
  COSTLINE_DETECTOR_WARM_START_H: intFrom(24, 0, 24 * 30),
  COSTLINE_COST_PER_POST_MULTIPLE: z.coerce.number().positive().default(2),
  /** The series detector of the spike check (a registry name; `costline detect --list`); wins over the file's detection.detector. */
  COSTLINE_DETECTOR: optionalString,
  /** Escalation: the request rate a spike throttles its scope to, and how long a critical anomaly pauses a persona. */
  COSTLINE_THROTTLE_RPM: intFrom(60, 1, 1_000_000),
  COSTLINE_PAUSE_MINUTES: z.coerce.number().positive().max(10_080).default(60),
  /** The notifier's ack wait: after a crash, alerts being delivered come back this long after their last sign of life. */
  COSTLINE_NOTIFY_ACK_WAIT_S: intFrom(10, 1, 3600),
  /** Health: how many undelivered messages make a consumer lagging, how long without progress makes it stalled, how often consumers are polled. */
  COSTLINE_HEALTH_LAG_MESSAGES: intFrom(10_000, 1, 1_000_000_000),
  COSTLINE_HEALTH_STALL_S: intFrom(30, 1, 86_400),
  COSTLINE_HEALTH_POLL_MS: intFrom(5000, 100, 600_000),
  /** Retention of the dead-letter stream: the oldest records go first past any of these. */
  COSTLINE_DLQ_MAX_AGE_H: intFrom(720, 1, 87_600),
  COSTLINE_DLQ_MAX_MESSAGES: intFrom(10_000_000, 1, 1_000_000_000),
  COSTLINE_DLQ_MAX_BYTES: intFrom(10_737_418_240, 1_048_576, 1_099_511_627_776),
  /** When set, /metrics asks for `Authorization: Bearer <token>` (its cost series name tenants). */
  COSTLINE_METRICS_TOKEN: optionalString,
  /**
   * Where a process without the API (`costline run STAGE…`) serves /metrics, /healthz and /readyz
   * (default: the API port, which it does not use); set beside the API, a second listener on this port.
   */
  COSTLINE_METRICS_PORT: optionalString.pipe(z.coerce.number<string | undefined>().int().min(0).max(65535).optional()),
  /** Tenants and models named in costline_cost_usd_total: the first N distinct ones seen, the rest "other". */
  COSTLINE_METRICS_MAX_TENANTS: intFrom(50, 1, 10_000),
  COSTLINE_METRICS_MAX_MODELS: intFrom(50, 1, 10_000),
  /** Health: how long NATS, a stream or ClickHouse may take to answer before its check is unhealthy. */
  COSTLINE_HEALTH_TIMEOUT_MS: intFrom(2000, 100, 60_000),
  /** A stage loop that failed is restarted after this delay, doubling with each further failure up to COSTLINE_STAGE_RESTART_MAX_MS. */
  COSTLINE_STAGE_RESTART_MIN_MS: intFrom(1000, 10, 600_000),
  /** The longest wait before a failed stage loop is restarted. */
  COSTLINE_STAGE_RESTART_MAX_MS: intFrom(30_000, 10, 3_600_000),
  /** A stage loop that fails this many times within COSTLINE_STAGE_FAILURE_WINDOW_S gives up: the process stops and exits non-zero. */
  COSTLINE_STAGE_MAX_FAILURES: intFrom(8, 1, 1000),
  /** The window, in seconds, over which a stage loop's failures are counted (for its backoff and for giving up). */
  COSTLINE_STAGE_FAILURE_WINDOW_S: intFrom(300, 1, 86_400),
  /** Bounds on every analytic query (reports, /v1/sql), set by the server: time, result rows and bytes, memory. */
  COSTLINE_QUERY_TIMEOUT_S: intFrom(10, 1, 3600),
  COSTLINE_QUERY_MAX_RESULT_ROWS: intFrom(1_000_000, 1, 1_000_000_000),
  COSTLINE_QUERY_MAX_RESULT_BYTES: intFrom(67_108_864, 1024, 17_179_869_184),
  COSTLINE_QUERY_MAX_MEMORY_BYTES: intFrom(2_147_483_648, 16_777_216, 1_099_511_627_776),
  /** Threads one analytic query may use; 1 leaves the other cores to ingestion. */
  COSTLINE_QUERY_MAX_THREADS: intFrom(1, 1, 256),
  /** Analytic queries running at once, each on its own connection (ingestion keeps another). */
  COSTLINE_ANALYTICS_CONNECTIONS: intFrom(2, 1, 32),
  /** Per API key: requests per second (sustained), the burst above it, and requests in flight at once; more is 429. */
  COSTLINE_API_RATE_PER_S: z.coerce.number().positive().max(1_000_000).default(200),
  COSTLINE_API_BURST: intFrom(400, 1, 1_000_000),
  COSTLINE_API_MAX_CONCURRENT_PER_KEY: intFrom(8, 1, 10_000),
  /** API key look-ups remembered (found or not), and for how long. */
  COSTLINE_API_KEY_CACHE_SIZE: intFrom(10_000, 10, 10_000_000),
  COSTLINE_API_KEY_CACHE_TTL_MS: intFrom(10_000, 0, 3_600_000),
  COSTLINE_CONFIG: optionalString,
  /** Budget reservations: how often hard budgets' counters take the ledger's spend, and how long a settled cost may stay unseen in the ledger. */
  COSTLINE_RESERVATION_SYNC_MS: intFrom(1000, 100, 600_000),
  COSTLINE_RESERVATION_SETTLED_GRACE_S: intFrom(600, 10, 86_400),
});

export const fileSchema = z
  .object({
    pricing: pricingConfigSchema.prefault({}),
    rateCards: rateCardsSchema.prefault({}),
    /** Escalation's model map for degraded controls (requested model → cheaper one); replaces the built-in map. */
    downgrades: z.record(z.string().min(1), z.string().min(1)).optional(),
    /** Channels, the route tree, inhibition, retries: validated (and its secrets resolved) by resolveNotifyConfig. */
    notify: z.unknown().optional(),
    /** The detection engine: series detector and its params, cost checks, alert hygiene, sensitivity per scope (docs/detection-engine.md). */
    detection: detectionSchema.prefault({}),
  })
  .strict();

export type Config = ReturnType<typeof buildConfig>;

function buildConfig(env: z.infer<typeof envSchema>, file: z.infer<typeof fileSchema>, rawEnv: NodeJS.ProcessEnv = {}) {
  const home = path.resolve(env.COSTLINE_HOME);
  return {
    home,
    stackFile: path.join(home, "stack.json"),
    logLevel: env.COSTLINE_LOG_LEVEL,
    nats: {
      url: env.NATS_URL,
      user: env.NATS_USER,
      password: env.NATS_PASSWORD,
      token: env.NATS_TOKEN,
      credsFile: env.NATS_CREDS,
      nkeySeed: env.NATS_NKEY_SEED,
      nkeySeedFile: env.NATS_NKEY_SEED_FILE,
      serverBin: env.NATS_SERVER_BIN,
      storeDir: path.join(home, "nats"),
    },
    clickhouse: {
      url: env.CLICKHOUSE_URL,
      user: env.CLICKHOUSE_USER,
      password: env.CLICKHOUSE_PASSWORD,
      dataDir: path.join(home, "clickhouse"),
      httpPort: env.COSTLINE_CLICKHOUSE_HTTP_PORT,
      cluster: env.COSTLINE_CLICKHOUSE_CLUSTER,
    },
    api: {
      reconcileDriftThreshold: env.COSTLINE_RECONCILE_DRIFT_THRESHOLD,
      port: env.COSTLINE_API_PORT,
      host: env.COSTLINE_API_HOST,
      maxBodyBytes: env.COSTLINE_API_MAX_BODY_BYTES,
      adminKey: env.COSTLINE_ADMIN_KEY,
      clientKey: env.COSTLINE_API_KEY,
      targetCostPerPost: env.COSTLINE_TARGET_COST_PER_POST,
      metricsToken: env.COSTLINE_METRICS_TOKEN,
      fairness: {
        ratePerS: env.COSTLINE_API_RATE_PER_S,
        burst: env.COSTLINE_API_BURST,
        maxConcurrentPerKey: env.COSTLINE_API_MAX_CONCURRENT_PER_KEY,
      },
      keyCache: { size: env.COSTLINE_API_KEY_CACHE_SIZE, ttlMs: env.COSTLINE_API_KEY_CACHE_TTL_MS },
    },
    queries: {
      limits: {
        timeoutS: env.COSTLINE_QUERY_TIMEOUT_S,
        maxResultRows: env.COSTLINE_QUERY_MAX_RESULT_ROWS,
        maxResultBytes: env.COSTLINE_QUERY_MAX_RESULT_BYTES,
        maxMemoryBytes: env.COSTLINE_QUERY_MAX_MEMORY_BYTES,
        maxThreads: env.COSTLINE_QUERY_MAX_THREADS,
      },
      connections: env.COSTLINE_ANALYTICS_CONNECTIONS,
    },
    allocation: {
      windowS: env.COSTLINE_ALLOCATION_WINDOW_S,
      driver: env.COSTLINE_ALLOCATION_DRIVER,
      intervalS: env.COSTLINE_ALLOCATION_INTERVAL_S,
      latenessS: env.COSTLINE_ALLOWED_LATENESS_S,
    },
    health: {
      lagMessages: env.COSTLINE_HEALTH_LAG_MESSAGES,
      stallS: env.COSTLINE_HEALTH_STALL_S,
      pollMs: env.COSTLINE_HEALTH_POLL_MS,
      timeoutMs: env.COSTLINE_HEALTH_TIMEOUT_MS,
    },
    restart: {
      minDelayMs: env.COSTLINE_STAGE_RESTART_MIN_MS,
      maxDelayMs: Math.max(env.COSTLINE_STAGE_RESTART_MIN_MS, env.COSTLINE_STAGE_RESTART_MAX_MS),
      maxFailures: env.COSTLINE_STAGE_MAX_FAILURES,
      windowMs: env.COSTLINE_STAGE_FAILURE_WINDOW_S * 1000,
    },
    metrics: { port: env.COSTLINE_METRICS_PORT, maxTenants: env.COSTLINE_METRICS_MAX_TENANTS, maxModels: env.COSTLINE_METRICS_MAX_MODELS },
    dlq: { maxAgeHours: env.COSTLINE_DLQ_MAX_AGE_H, maxMessages: env.COSTLINE_DLQ_MAX_MESSAGES, maxBytes: env.COSTLINE_DLQ_MAX_BYTES },
    escalation: {
      throttleRequestsPerMinute: env.COSTLINE_THROTTLE_RPM,
      pauseMinutes: env.COSTLINE_PAUSE_MINUTES,
      downgrades: file.downgrades ?? defaultDowngrades,
    },
    detection: {
      ...file.detection,
      detector: env.COSTLINE_DETECTOR ?? file.detection.detector ?? defaultSeriesDetector,
      // The environment's cooldown wins when it is set; else the file's.
      hygiene: {
        ...file.detection.hygiene,
        cooldownS: rawEnv.COSTLINE_ALERT_COOLDOWN_S ? env.COSTLINE_ALERT_COOLDOWN_S : file.detection.hygiene.cooldownS,
      },
    },
    reservations: { syncMs: env.COSTLINE_RESERVATION_SYNC_MS, settledGraceMs: env.COSTLINE_RESERVATION_SETTLED_GRACE_S * 1000 },
    detector: {
      cooldownS: env.COSTLINE_ALERT_COOLDOWN_S,
      warmStartHours: env.COSTLINE_DETECTOR_WARM_START_H,
      costPerPostMultiple: env.COSTLINE_COST_PER_POST_MULTIPLE,
    },
    windows: {
      windowS: env.COSTLINE_WINDOW_S,
      latenessS: env.COSTLINE_ALLOWED_LATENESS_S,
      emitMs: env.COSTLINE_WINDOW_EMIT_MS,
      maxPending: env.COSTLINE_WINDOWER_MAX_PENDING,
      checkpointMs: env.COSTLINE_WINDOW_CHECKPOINT_MS,
    },
    partitions: {
      count: env.COSTLINE_PARTITIONS,
      leaseTtlMs: env.COSTLINE_LEASE_TTL_MS,
      instanceId: env.COSTLINE_INSTANCE_ID,
      stallMs: env.COSTLINE_PARTITION_STALL_S * 1000,
    },
    subjects: { prefix: env.COSTLINE_SUBJECT_PREFIX },
    streams: {
      duplicateWindowS: env.COSTLINE_DUPLICATE_WINDOW_S,
      maxAgeHours: env.COSTLINE_STREAM_MAX_AGE_H,
      maxMessageBytes: env.COSTLINE_MAX_MESSAGE_BYTES,
      ackWaitS: env.COSTLINE_ACK_WAIT_S,
      maxDeliver: env.COSTLINE_MAX_DELIVER,
      replicas: env.COSTLINE_STREAM_REPLICAS,
    },
    enrich: {
      batch: env.COSTLINE_ENRICH_BATCH,
      flushMs: env.COSTLINE_ENRICH_FLUSH_MS,
      concurrency: env.COSTLINE_ENRICH_CONCURRENCY,
      priceCatalogRefreshMs: env.COSTLINE_PRICE_CATALOG_REFRESH_MS,
      maxBatchEvents: env.COSTLINE_MAX_BATCH_EVENTS,
      maxMessageBytes: env.COSTLINE_MAX_MESSAGE_BYTES,
    },
    ledger: {
      batchMessages: env.COSTLINE_LEDGER_BATCH_MESSAGES,
      flushMs: env.COSTLINE_LEDGER_FLUSH_MS,
      lingerMs: env.COSTLINE_LEDGER_LINGER_MS,
      dedupLookbackDays: env.COSTLINE_LEDGER_DEDUP_LOOKBACK_DAYS,
    },
    demo: { rate: env.COSTLINE_DEMO_RATE },
    otlp: { attributes: parseOtlpAttributes(env.COSTLINE_OTLP_ATTRIBUTES, (m) => new ConfigError(`invalid configuration: ${m}`)) },
    exports: { maxRows: env.COSTLINE_EXPORT_MAX_ROWS },
    pricing: file.pricing,
    rateCards: file.rateCards,
    notify: resolveNotifyConfig(file.notify, rawEnv, env.COSTLINE_NOTIFY_ACK_WAIT_S),
  };
}

/** NATS credentials that cannot work together (names only: values are secrets). */
function natsAuthProblem(env: z.infer<typeof envSchema>): string | undefined {
  if (env.NATS_PASSWORD && !env.NATS_USER) return "NATS_PASSWORD is set without NATS_USER";
  if (env.NATS_NKEY_SEED && env.NATS_NKEY_SEED_FILE) return "set NATS_NKEY_SEED or NATS_NKEY_SEED_FILE, not both";
  if (env.NATS_CREDS && (env.NATS_NKEY_SEED || env.NATS_NKEY_SEED_FILE))
    return "NATS_CREDS carries its own nkey: do not also set NATS_NKEY_SEED(_FILE)";
  return undefined;
}

/** Parses and validates the environment (and config file) once; throws ConfigError with every problem listed. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  // Parsed once per process: zod's compiled fast path would cost more to build than this one parse takes.
  const parsedEnv = envSchema.safeParse(env, { jitless: true });
  if (!parsedEnv.success) throw new ConfigError(`invalid configuration: ${formatIssues(parsedEnv.error, "(root)", Infinity)}`);
  const natsAuth = natsAuthProblem(parsedEnv.data);
  if (natsAuth) throw new ConfigError(`invalid configuration: ${natsAuth}`);
  let fileValue: unknown = {};
  if (parsedEnv.data.COSTLINE_CONFIG) {
    try {
      fileValue = JSON.parse(readFileSync(parsedEnv.data.COSTLINE_CONFIG, "utf8"));
    } catch (err) {
      // V8 quotes the start of the text in some JSON errors; the file may hold secrets, so keep only the position.
      const why = (err as Error).message.replace(/, ".*" is not valid JSON$/s, " (not valid JSON)");
      throw new ConfigError(`cannot read COSTLINE_CONFIG ${parsedEnv.data.COSTLINE_CONFIG}: ${why}`);
    }
  }
  const parsedFile = fileSchema.safeParse(fileValue, { jitless: true });
  if (!parsedFile.success) throw new ConfigError(`invalid config file: ${formatIssues(parsedFile.error, "(root)", Infinity)}`);
  const config = buildConfig(parsedEnv.data, parsedFile.data, env);
  try {
    detectorParams(config.detection.detector, config.detection.params, { live: true });
  } catch (err) {
    throw new ConfigError(`invalid configuration: ${(err as Error).message}`);
  }
  return config;
}
