// `npm run eval:incidents`: generates labeled cost-incident series (three
// spend levels × several seeds, the five incident kinds), replays them through
// `costline detect` in one process, and prints recall per kind and false
// alerts per clean series-day. Options: --seed N (first seed), --series N
// (series per spend level), --days N, --detector NAME, --json.
import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { parseArgs } from "node:util";
import { INCIDENT_KINDS, SPEND_LEVELS, generateSeries, toCsv, type LabeledSeries, type SpendLevel } from "./incidents/generate.ts";
import { scoreSeries } from "./incidents/score.ts";

const run = promisify(execFile);
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

export interface IncidentReport {
  series: number;
  incidents: number;
  detected: number;
  recall: number;
  byKind: Record<string, { detected: number; total: number; medianDelayMin: number | undefined }>;
  falseAlerts: number;
  cleanDays: number;
  falseAlertsPerCleanDay: number;
  missed: string[];
}

export async function evalIncidents(o: { seed: number; series: number; days: number; detector?: string }): Promise<IncidentReport> {
  const dir = mkdtempSync(path.join(tmpdir(), "costline-incidents-"));
  try {
    const input = path.join(dir, "in");
    const output = path.join(dir, "out");
    mkdirSync(input);
    const all: LabeledSeries[] = [];
    const levels = Object.keys(SPEND_LEVELS) as SpendLevel[];
    for (let k = 0; k < o.series; k++)
      for (const [j, level] of levels.entries()) {
        const s = generateSeries({ seed: o.seed + 1000 * k + j, level, days: o.days });
        all.push(s);
        writeFileSync(path.join(input, `${s.name}.csv`), toCsv(s));
      }
    const args = [path.join(repoRoot, "bin/costline.mjs"), "detect", "--input", input, "--output", output];
    // The spend detector (made for cost series) unless another is named.
    args.push("--detector", o.detector ?? "spend");
    await run(process.execPath, args, { cwd: repoRoot, maxBuffer: 1 << 24 });

    const byKind: IncidentReport["byKind"] = {};
    const delays: Record<string, number[]> = {};
    for (const k of INCIDENT_KINDS) {
      byKind[k] = { detected: 0, total: 0, medianDelayMin: undefined };
      delays[k] = [];
    }
    let falseAlerts = 0,
      cleanDays = 0;
    const missed: string[] = [];
    for (const s of all) {
      const rows = readFileSync(path.join(output, `${s.name}.csv`), "utf8")
        .trim()
        .split("\n")
        .slice(1);
      const flags = rows.map((l) => l.endsWith(",1"));
      const r = scoreSeries(s, flags);
      s.incidents.forEach((inc, i) => {
        byKind[inc.kind]!.total++;
        if (r.detected[i]) {
          byKind[inc.kind]!.detected++;
          delays[inc.kind]!.push(r.delays[i]!);
        } else missed.push(`${s.name} ${inc.kind} at minute ${inc.start}`);
      });
      falseAlerts += r.falseAlerts;
      cleanDays += r.cleanDays;
    }
    for (const k of INCIDENT_KINDS) {
      const d = delays[k]!.sort((a, b) => a - b);
      byKind[k]!.medianDelayMin = d.length ? d[d.length >> 1] : undefined;
    }
    const incidents = Object.values(byKind).reduce((a, b) => a + b.total, 0);
    const detected = Object.values(byKind).reduce((a, b) => a + b.detected, 0);
    return {
      series: all.length,
      incidents,
      detected,
      recall: incidents ? detected / incidents : 1,
      byKind,
      falseAlerts,
      cleanDays,
      falseAlertsPerCleanDay: cleanDays ? falseAlerts / cleanDays : 0,
      missed,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({
    options: {
      seed: { type: "string", default: "1" },
      series: { type: "string", default: "4" },
      days: { type: "string", default: "14" },
      detector: { type: "string" },
      json: { type: "boolean", default: false },
    },
  });
  const report = await evalIncidents({
    seed: Number(values.seed),
    series: Number(values.series),
    days: Number(values.days),
    detector: values.detector,
  });
  if (values.json) console.log(JSON.stringify(report, null, 2));
  else {
    console.log(`${report.series} series, ${report.incidents} incidents, ${report.cleanDays} clean series-days`);
    for (const [k, v] of Object.entries(report.byKind))
      console.log(`  ${k.padEnd(14)} ${v.detected}/${v.total}  median delay ${v.medianDelayMin ?? "-"} min`);
    console.log(
      `recall ${(100 * report.recall).toFixed(1)} %   false alerts ${report.falseAlerts} = ${report.falseAlertsPerCleanDay.toFixed(3)} per clean series-day`,
    );
    for (const m of report.missed) console.log(`  missed: ${m}`);
  }
}
