// `costline detect` as a user runs it: streaming replay of a timestamp,value
// series, scored on the Numenta Anomaly Benchmark sample with its own scorer.
import { execFile } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { cliPath, repoRoot, tempHome } from "../helpers/stack-process.ts";

const run = promisify(execFile);
const dir = tempHome("costline-detect-");
const nab = path.resolve(repoRoot, "../shared/data/nab-sample");

async function detect(input: string, output: string, detector = "spike") {
  return run(process.execPath, [cliPath, "detect", "--input", input, "--output", output, "--detector", detector], { cwd: repoRoot });
}

function series(n: number, spikeAt?: number): string {
  const rows = ["timestamp,value"];
  for (let i = 0; i < n; i++) {
    const t = new Date(Date.UTC(2026, 0, 1) + i * 300_000).toISOString().replace("T", " ").slice(0, 19);
    const v = 10 + Math.sin(i / 7) + (i === spikeAt ? 60 : 0);
    rows.push(`${t},${v.toFixed(4)}`);
  }
  return `${rows.join("\n")}\n`;
}

describe("costline detect", () => {
  it("flags an injected spike and nothing on the plain series", async () => {
    writeFileSync(path.join(dir, "spiky.csv"), series(600, 400));
    await detect(path.join(dir, "spiky.csv"), path.join(dir, "spiky.out.csv"));
    const out = readFileSync(path.join(dir, "spiky.out.csv"), "utf8").trim().split("\n");
    expect(out[0]).toBe("timestamp,value,anomaly_score,is_anomaly");
    expect(out).toHaveLength(601);
    const flagged = out
      .slice(1)
      .map((l, i) => [i, l.split(",")] as const)
      .filter(([, c]) => c[3] === "1")
      .map(([i]) => i);
    expect(flagged).toEqual([400]);
    for (const l of out.slice(1)) {
      const s = Number(l.split(",")[2]);
      expect(s >= 0 && s <= 1).toBe(true);
    }
  });

  it("scores each row from the rows before it only", async () => {
    writeFileSync(path.join(dir, "full.csv"), series(500, 300));
    writeFileSync(path.join(dir, "head.csv"), series(320, 300));
    await detect(path.join(dir, "full.csv"), path.join(dir, "full.out.csv"));
    await detect(path.join(dir, "head.csv"), path.join(dir, "head.out.csv"));
    const full = readFileSync(path.join(dir, "full.out.csv"), "utf8").split("\n").slice(0, 321);
    const head = readFileSync(path.join(dir, "head.out.csv"), "utf8").split("\n").slice(0, 321);
    expect(full).toEqual(head);
  });

  it("names the line of a malformed row and an unknown detector", async () => {
    writeFileSync(path.join(dir, "bad.csv"), "timestamp,value\n2026-01-01 00:00:00,1\n2026-01-01 00:05:00,oops\n");
    await expect(detect(path.join(dir, "bad.csv"), path.join(dir, "bad.out.csv"))).rejects.toMatchObject({
      stderr: expect.stringMatching(/bad\.csv:3/),
    });
    await expect(detect(path.join(dir, "bad.csv"), path.join(dir, "bad.out.csv"), "magic")).rejects.toMatchObject({
      stderr: expect.stringMatching(/unknown detector "magic"/),
    });
  });

  it("lists the registry's detectors and cost checks with their parameters", async () => {
    const { stdout } = await run(process.execPath, [cliPath, "detect", "--list"], { cwd: repoRoot });
    const rows = stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { kind: string; name: string; params: Record<string, unknown> });
    const spike = rows.find((r) => r.kind === "series" && r.name === "spike");
    expect(spike?.params).toMatchObject({ minHistory: 30, threshold: 0.5 });
    expect(rows.find((r) => r.kind === "cost_check" && r.name === "spike")?.params).toMatchObject({ medium: 3, high: 3.5, critical: 5 });
    expect(rows.filter((r) => r.kind === "series").map((r) => r.name)).toEqual(expect.arrayContaining(["spike", "seasonal"]));
  });

  it("takes detector parameters and refuses invalid ones", async () => {
    writeFileSync(path.join(dir, "p.csv"), series(600, 400));
    // Scoring 0.5 only at a robust z of 200 and flagging at 0.9: the injected spike (z ≈ 80) is not flagged.
    await run(
      process.execPath,
      [
        cliPath,
        "detect",
        "--input",
        path.join(dir, "p.csv"),
        "--output",
        path.join(dir, "p.out.csv"),
        "--param",
        "midZ=200",
        "--param",
        "threshold=0.9",
      ],
      { cwd: repoRoot },
    );
    expect(
      readFileSync(path.join(dir, "p.out.csv"), "utf8")
        .trim()
        .split("\n")
        .slice(1)
        .filter((l) => l.endsWith(",1")),
    ).toEqual([]);
    await expect(
      run(
        process.execPath,
        [cliPath, "detect", "--input", path.join(dir, "p.csv"), "--output", path.join(dir, "p.out.csv"), "--param", "midZ=-3"],
        { cwd: repoRoot },
      ),
    ).rejects.toMatchObject({
      stderr: expect.stringMatching(/detector "spike": invalid parameters: midZ/),
    });
  });

  it("reaches a NAB standard score above 50 on the benchmark sample", async () => {
    const results = path.join(dir, "nab");
    const files = [
      "realAdExchange/exchange-2_cpc_results.csv",
      "realAdExchange/exchange-3_cpc_results.csv",
      "realAdExchange/exchange-4_cpm_results.csv",
      "realAWSCloudwatch/elb_request_count_8c0756.csv",
      "realAWSCloudwatch/ec2_network_in_257a54.csv",
      "realAWSCloudwatch/ec2_cpu_utilization_c6585a.csv",
    ];
    for (const f of files) {
      mkdirSync(path.dirname(path.join(results, f)), { recursive: true });
      await detect(path.join(nab, "data", f), path.join(results, f));
    }
    const { stdout } = await run("python3", [path.join(nab, "nab_score.py"), results]);
    const score = Number(/NAB=\s*([-\d.]+)/.exec(stdout)?.[1]);
    expect(score).toBeGreaterThan(50);
  });
});
