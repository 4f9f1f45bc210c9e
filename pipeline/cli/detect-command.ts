// `costline detect`: the detection engine offline.
//   --list                          the registry: series detectors and cost checks with their parameters
//   --input F.csv --output G.csv    a timestamp,value series through a series detector
//   --tenant T [--scope S,…] --from ISO --to ISO
//                                   the tenant's own history, its windows rebuilt from the ledger,
//                                   through the same engine the detector stage runs: the alerts
//                                   production would have raised, one JSON object per line
import type { Config } from "../config/config.ts";
import { CostlineError } from "../errors.ts";
import { replayPaths } from "../detect/replay-paths.ts";
import { costChecks, detectorParams, findSeriesDetector, paramDefaults, seriesDetectors } from "../detect/registry.ts";
import { replayWindows } from "../detect/replay.ts";
import { ledgerWindows, ledgerWindowsQuerySchema, replayScopeNames } from "../detect/ledger-windows.ts";
import { migrate } from "../clickhouse/migrate.ts";
import type { WindowAggregate } from "../../schemas/index.ts";
import { apiCall, ledgerAccess, printJson } from "./stack-client.ts";

export interface DetectOptions {
  list?: boolean;
  input?: string;
  output?: string;
  detector?: string;
  param?: string[];
  tenant?: string;
  scope?: string;
  from?: string;
  to?: string;
  warmupHours?: string;
}

/** `--param k=v` pairs as detector parameters (numbers and booleans parsed). */
function parseParams(pairs: string[] = []): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const p of pairs) {
    const i = p.indexOf("=");
    if (i <= 0) throw new CostlineError(`--param ${p}: expected name=value`);
    const v = p.slice(i + 1);
    out[p.slice(0, i)] = v === "true" ? true : v === "false" ? false : Number.isFinite(Number(v)) && v.trim() !== "" ? Number(v) : v;
  }
  return out;
}

export async function runDetect(config: () => Config, o: DetectOptions): Promise<void> {
  if (o.list) return printList();
  const params = parseParams(o.param);
  if (o.input || o.output) {
    if (!o.input || !o.output) throw new CostlineError("--input and --output go together");
    if (o.tenant) throw new CostlineError("--tenant replays the ledger; --input replays a CSV: choose one");
    const name = o.detector ?? config().detection.detector;
    const r = await replayPaths(o.input, o.output, name, params);
    process.stderr.write(
      `${r.files > 1 ? `${r.files} files, ` : ""}${r.rows} rows scored by ${name}, ${r.anomalies} flagged → ${o.output}\n`,
    );
    return;
  }
  if (o.tenant) return runLedgerReplay(config(), o, params);
  throw new CostlineError("costline detect needs --list, --input/--output, or --tenant with --from/--to");
}

function printList(): void {
  for (const d of seriesDetectors)
    printJson({
      kind: "series",
      name: d.name,
      description: d.description,
      params: paramDefaults(d.params),
      live_defaults: d.liveDefaults ?? {},
    });
  for (const c of costChecks) printJson({ kind: "cost_check", name: c.name, description: c.description, params: paramDefaults(c.params) });
}

async function runLedgerReplay(config: Config, o: DetectOptions, params: Record<string, unknown>): Promise<void> {
  const to = o.to ?? new Date().toISOString();
  const from = o.from ?? new Date(Date.parse(to) - 24 * 3_600_000).toISOString();
  const warmupH = o.warmupHours === undefined ? config.detector.warmStartHours : Number(o.warmupHours);
  if (!Number.isFinite(warmupH) || warmupH < 0) throw new CostlineError("--warmup-hours: a number of hours ≥ 0");
  const scopes = o.scope
    ? o.scope
        .split(",")
        .map((s) => s.trim())
        .filter(Boolean)
    : replayScopeNames;
  const q = ledgerWindowsQuerySchema.safeParse({ tenant: o.tenant, scopes, from, to, window_s: config.windows.windowS });
  if (!q.success)
    throw new CostlineError(
      q.error.issues.map((i) => `--${String(i.path[0]).replace("scopes", "scope")}: ${i.message}`).join("; ") +
        ` (scopes: ${replayScopeNames.join(", ")})`,
    );
  if (Date.parse(q.data.to) <= Date.parse(q.data.from)) throw new CostlineError("--to must be after --from");
  // The history before --from warms the baselines, as a running stage's would be.
  const warmFrom = new Date(Date.parse(q.data.from) - warmupH * 3_600_000).toISOString();
  const detection = { ...config.detection };
  if (o.detector) {
    findSeriesDetector(o.detector);
    detection.detector = o.detector;
    detection.params = params;
  } else if (Object.keys(params).length) detection.params = { ...detection.params, ...params };
  detectorParams(detection.detector, detection.params, { live: true });
  const windows = await fetchWindows(config, { ...q.data, from: warmFrom });
  const r = replayWindows({ ...config, detection }, windows, { from: q.data.from });
  for (const a of r.alerts) printJson(a);
  const firing = r.alerts.filter((a) => a.status === "firing").length;
  process.stderr.write(
    `${r.replayed} windows of ${q.data.tenant} replayed through ${detection.detector} (${r.warmup} before ${q.data.from} warmed the baselines): ${firing} firing, ${r.alerts.length - firing} resolved\n`,
  );
}

async function fetchWindows(
  config: Config,
  q: { tenant: string; scopes: string[]; from: string; to: string; window_s: number },
): Promise<WindowAggregate[]> {
  const access = await ledgerAccess(config);
  if (access.kind === "api") {
    const qs = new URLSearchParams({ tenant: q.tenant, scope: q.scopes.join(","), from: q.from, to: q.to, window_s: String(q.window_s) });
    const res = await apiCall(config, `${access.url}/v1/detect/windows?${qs}`);
    const body = (await res.json()) as { windows?: WindowAggregate[]; error?: string };
    if (!res.ok) throw new CostlineError(body.error ?? `HTTP ${res.status}`);
    return body.windows ?? [];
  }
  try {
    await migrate(access.db.client, { cluster: config.clickhouse.cluster });
    return await ledgerWindows(access.db.client, ledgerWindowsQuerySchema.parse(q));
  } finally {
    await access.db.close();
  }
}
