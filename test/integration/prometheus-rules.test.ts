// The Prometheus side of deploy/: `promtool check config` on the scrape
// config, `promtool check rules` and `promtool test rules` on the alert rules
// and their unit tests, a rule made wrong on purpose that the unit tests must
// catch, every rule naming only agreed metrics, and every PromQL expression of
// the Grafana dashboards parsed by promtool.
//
// promtool comes from the system (Debian/Ubuntu: the `prometheus` package;
// macOS: Homebrew), installed by scripts/setup.mjs for the tests. Its absence
// fails these tests, unless set-up recorded that this platform has no package
// manager it can install it with (then they are skipped, with that reason).
import { spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { parse as parseYaml } from "yaml";
import { describe, expect, it } from "vitest";
import { agreedMetrics, metricNames } from "../helpers/agreed-metrics.ts";

const repoRoot = path.resolve(import.meta.dirname, "../..");
const promDir = path.join(repoRoot, "deploy/prometheus");
const rulesDir = path.join(promDir, "rules");
const testsDir = path.join(promDir, "tests");
/** Written by scripts/setup.mjs when it cannot install promtool on this platform. */
const unavailableMarker = path.join(repoRoot, "node_modules/.cache/costline/promtool-unavailable.json");

const promtoolBin = process.env.PROMTOOL_BIN || "promtool";
const promtoolFound = spawnSync(promtoolBin, ["--version"], { encoding: "utf8" }).status === 0;
const skipReason = (() => {
  if (promtoolFound || !existsSync(unavailableMarker)) return undefined;
  const marker = JSON.parse(readFileSync(unavailableMarker, "utf8")) as { platform: string; reason: string };
  return marker.platform === process.platform ? marker.reason : undefined;
})();
if (skipReason) console.warn(`skipping the promtool tests: ${skipReason} (reported by scripts/setup.mjs)`);

function promtool(args: string[], cwd = promDir): { ok: boolean; out: string } {
  if (!promtoolFound)
    throw new Error(
      `promtool not found (${promtoolBin}): run \`node scripts/setup.mjs --with-promtool\` (npm test does), ` +
        "install it (Debian/Ubuntu: apt-get install --no-install-recommends prometheus; macOS: brew install prometheus), or set PROMTOOL_BIN",
    );
  const r = spawnSync(promtoolBin, args, { encoding: "utf8", cwd });
  return { ok: r.status === 0, out: `${r.stdout}\n${r.stderr}` };
}

interface Rule {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
const ruleFiles = readdirSync(rulesDir)
  .filter((f) => f.endsWith(".yml"))
  .sort();
const rulesByFile = Object.fromEntries(
  ruleFiles.map((f) => [
    f,
    (parseYaml(readFileSync(path.join(rulesDir, f), "utf8")) as { groups: { rules: Rule[] }[] }).groups.flatMap((g) => g.rules),
  ]),
);
const alerts = Object.values(rulesByFile)
  .flat()
  .filter((r) => r.alert);
const testFiles = readdirSync(testsDir)
  .filter((f) => f.endsWith(".yml"))
  .sort();

describe.skipIf(Boolean(skipReason))("Prometheus rules and config (promtool)", () => {
  it("promtool check config accepts the scrape config and finds every rule file", () => {
    // promtool opens the metrics token file, which compose mounts as a secret: a stand-in here.
    const dir = mkdtempSync(path.join(os.tmpdir(), "costline-promconfig-"));
    cpSync(rulesDir, path.join(dir, "rules"), { recursive: true });
    writeFileSync(path.join(dir, "metrics_token"), "stand-in");
    const config = readFileSync(path.join(promDir, "prometheus.yml"), "utf8");
    expect(config).toContain("credentials_file: /run/secrets/costline_metrics_token");
    writeFileSync(
      path.join(dir, "prometheus.yml"),
      config.replaceAll("/run/secrets/costline_metrics_token", path.join(dir, "metrics_token")),
    );
    const r = promtool(["check", "config", "prometheus.yml"], dir);
    expect(r.ok, r.out).toBe(true);
    expect(r.out).toContain(`SUCCESS: ${ruleFiles.length} rule files found`);
  });

  it("promtool check rules accepts every rule file", () => {
    const r = promtool(["check", "rules", ...ruleFiles.map((f) => path.join("rules", f))]);
    expect(r.ok, r.out).toBe(true);
    for (const f of ruleFiles) expect(r.out).toContain(`SUCCESS: ${rulesByFile[f]!.length} rules found`);
  });

  it("promtool test rules passes, and every alert is shown to fire in a test", () => {
    const r = promtool(["test", "rules", ...testFiles.map((f) => path.join("tests", f))]);
    expect(r.ok, r.out).toBe(true);
    expect(r.out.match(/SUCCESS/g)?.length).toBe(testFiles.length);
    const fired = new Set<string>();
    const tested = new Set<string>();
    for (const f of testFiles) {
      const doc = parseYaml(readFileSync(path.join(testsDir, f), "utf8")) as {
        rule_files: string[];
        tests: { alert_rule_test?: { alertname: string; exp_alerts: unknown[] }[] }[];
      };
      for (const rf of doc.rule_files) tested.add(path.basename(rf));
      for (const t of doc.tests) for (const a of t.alert_rule_test ?? []) if (a.exp_alerts.length) fired.add(a.alertname);
    }
    expect([...tested].sort(), "every rule file has a test file").toEqual(ruleFiles);
    expect([...fired].sort(), "every alert fires in some test").toEqual(alerts.map((a) => a.alert!).sort());
  });

  it("the unit tests catch a wrong threshold", () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "costline-promrules-"));
    cpSync(promDir, dir, { recursive: true });
    const file = path.join(dir, "rules/pipeline.yml");
    const text = readFileSync(file, "utf8");
    const broken = text.replace(
      "max by (stage, stream) (costline_consumer_pending_messages) > 1000",
      "max by (stage, stream) (costline_consumer_pending_messages) > 100000",
    );
    expect(broken).not.toBe(text);
    writeFileSync(file, broken);
    const r = promtool(["test", "rules", "tests/pipeline.test.yml"], dir);
    expect(r.ok).toBe(false);
    expect(r.out).toContain("alertname: CostlineConsumerLagGrowing");
  });

  it("every PromQL expression of the dashboards parses", () => {
    const exprs: string[] = [];
    for (const f of readdirSync(path.join(repoRoot, "deploy/grafana/dashboards")).filter((x) => x.endsWith(".json"))) {
      const d = JSON.parse(readFileSync(path.join(repoRoot, "deploy/grafana/dashboards", f), "utf8")) as {
        panels: { targets?: { datasource?: { type: string }; expr?: string }[]; panels?: unknown[] }[];
      };
      for (const p of d.panels) for (const t of p.targets ?? []) if (t.datasource?.type === "prometheus" && t.expr) exprs.push(t.expr);
    }
    expect(exprs.length).toBeGreaterThan(10);
    // Grafana's range variables become a duration, as Grafana sends them.
    const rules = exprs.map((e, i) => ({ record: `dashboard:expr_${i}`, expr: e.replace(/\$__(rate_interval|interval|range)/g, "1m") }));
    const dir = mkdtempSync(path.join(os.tmpdir(), "costline-promql-"));
    writeFileSync(path.join(dir, "dashboards.yml"), JSON.stringify({ groups: [{ name: "dashboards", rules }] }));
    const r = promtool(["check", "rules", path.join(dir, "dashboards.yml")]);
    expect(r.ok, r.out).toBe(true);
    expect(r.out).toContain(`SUCCESS: ${exprs.length} rules found`);
  });
});

describe("alert rules", () => {
  it("cover lag, the DLQ, ClickHouse, stages down, freshness and notifier deliveries", () => {
    const names = alerts.map((a) => a.alert!);
    for (const wanted of [
      "CostlineConsumerLagGrowing",
      "CostlineDLQGrowing",
      "CostlineClickHouseInsertErrors",
      "CostlineClickHouseInsertSlow",
      "CostlineStageDown",
      "CostlineLedgerFreshnessSlow",
      "CostlineNotifyDeliveryFailed",
    ])
      expect(names).toContain(wanted);
  });

  it.each(alerts.map((a) => [a.alert!, a] as const))("%s: agreed metrics, a severity, a summary and a description", (_name, rule) => {
    const names = metricNames(rule.expr);
    expect(names.length).toBeGreaterThan(0);
    for (const n of names) expect(agreedMetrics.has(n), `${n} is an agreed metric name`).toBe(true);
    expect(["warning", "critical"]).toContain(rule.labels?.severity);
    expect(rule.annotations?.summary).toBeTruthy();
    expect(rule.annotations?.description).toBeTruthy();
  });

  it("a missing service is noticed for every scraped costline job", () => {
    const config = parseYaml(readFileSync(path.join(promDir, "prometheus.yml"), "utf8")) as { scrape_configs: { job_name: string }[] };
    const jobs = config.scrape_configs.map((s) => s.job_name).filter((j) => j.startsWith("costline-"));
    const missing = alerts.find((a) => a.alert === "CostlineServiceMissing")!;
    const watched = [...missing.expr.matchAll(/absent\(up\{job="([^"]+)"\}\)/g)].map((m) => m[1]);
    expect(watched.sort()).toEqual(jobs.sort());
  });
});
