// `npm run eval:nab`: replays every series of the Numenta Anomaly Benchmark
// development set (../shared/data/nab-dev, beside the repository) through
// `costline detect` in one process and scores the results with the
// benchmark's own scorer, printing its three profiles.
// Options: --detector NAME, --data DIR (a NAB-layout directory), --keep DIR.
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs, promisify } from "node:util";

const run = promisify(execFile);
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

export interface NabProfile {
  profile: string;
  threshold: number;
  score: number;
}

export async function evalNab(
  o: { data?: string; detector?: string; keep?: string } = {},
): Promise<{ profiles: NabProfile[]; output: string }> {
  const nab = path.resolve(repoRoot, o.data ?? "../shared/data/nab-dev");
  if (!existsSync(path.join(nab, "nab_score.py"))) throw new Error(`no NAB set at ${nab} (expected data/, labels/ and nab_score.py)`);
  const results = o.keep ? path.resolve(o.keep) : mkdtempSync(path.join(tmpdir(), "costline-nab-"));
  try {
    const args = [path.join(repoRoot, "bin/costline.mjs"), "detect", "--input", path.join(nab, "data"), "--output", results];
    // The adaptive detector unless another is named (the stage's default is the configured one).
    args.push("--detector", o.detector ?? "adaptive");
    await run(process.execPath, args, { cwd: repoRoot });
    const { stdout } = await run("python3", [path.join(nab, "nab_score.py"), results, "--profile", "all"], { cwd: repoRoot });
    const profiles = [...stdout.matchAll(/^(\S+)\s+threshold=([-\d.e]+).*NAB=\s*([-\d.]+)/gm)].map((m) => ({
      profile: m[1]!,
      threshold: Number(m[2]),
      score: Number(m[3]),
    }));
    return { profiles, output: stdout };
  } finally {
    if (!o.keep) rmSync(results, { recursive: true, force: true });
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({ options: { detector: { type: "string" }, data: { type: "string" }, keep: { type: "string" } } });
  const { output } = await evalNab(values);
  process.stdout.write(output);
}
