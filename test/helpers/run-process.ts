// `costline run STAGE…` as a real child process — more instances of stages
// beside a running stack — with its log in a file, found ready by its
// "stages running" line (which also names where it serves /metrics).
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, openSync, readFileSync } from "node:fs";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { cliPath, repoRoot } from "./stack-process.ts";

export interface RunProcess {
  child: ChildProcess;
  pid: number;
  /** Where it serves /metrics, /healthz and /readyz. */
  opsUrl: string;
  logFile: string;
  output(): string;
  /** The sum of costline_stage_messages_total for `stage` (every outcome) in its /metrics. */
  stageMessages(stage: string): Promise<number>;
  stop(): Promise<number | null>;
  kill(): Promise<void>;
}

function withParentDeathSignal(bin: string, args: string[]): [string, string[]] {
  if (process.platform !== "linux") return [bin, args];
  const setpriv = spawnSync("sh", ["-c", "command -v setpriv"], { encoding: "utf8" });
  return setpriv.status === 0 ? [setpriv.stdout.trim(), ["--pdeathsig", "SIGKILL", bin, ...args]] : [bin, args];
}

export async function startRun(
  stages: string[],
  env: Record<string, string>,
  opts: { logFile: string; timeoutMs?: number; metricsToken?: string },
): Promise<RunProcess> {
  const before = existsSync(opts.logFile) ? readFileSync(opts.logFile, "utf8").length : 0;
  const out = openSync(opts.logFile, "a");
  const [cmd, argv] = withParentDeathSignal(process.execPath, [cliPath, "run", ...stages]);
  const child = spawn(cmd, argv, {
    cwd: repoRoot,
    env: { ...process.env, COSTLINE_LOG_LEVEL: "info", ...env },
    stdio: ["ignore", out, out],
  });
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const output = () => readFileSync(opts.logFile, "utf8");
  const deadline = Date.now() + (opts.timeoutMs ?? 120_000);
  let opsUrl: string | undefined;
  while (!opsUrl) {
    for (const line of output().slice(before).split("\n")) {
      if (!line.includes('"stages running"')) continue;
      try {
        // The log file is this process's own (see runLog); a restart appends, so the last line wins.
        const rec = JSON.parse(line) as { ops?: string };
        if (rec.ops) opsUrl = rec.ops;
      } catch {
        // a partly written line: read again
      }
    }
    if (opsUrl) break;
    if (child.exitCode !== null) throw new Error(`costline run ${stages.join(" ")} exited with ${child.exitCode}; see ${opts.logFile}`);
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`costline run ${stages.join(" ")} was not running within the time allowed; see ${opts.logFile}`);
    }
    await sleep(100);
  }
  const ops = opsUrl;
  return {
    child,
    pid: child.pid!,
    opsUrl: ops,
    logFile: opts.logFile,
    output,
    async stageMessages(stage) {
      const res = await fetch(`${ops}/metrics`, opts.metricsToken ? { headers: { authorization: `Bearer ${opts.metricsToken}` } } : {});
      const text = await res.text();
      let sum = 0;
      for (const m of text.matchAll(/^costline_stage_messages_total\{([^}]*)\} (\S+)$/gm))
        if (new RegExp(`(^|,)stage="${stage}"`).test(m[1]!)) sum += Number(m[2]);
      return sum;
    },
    async stop() {
      child.kill("SIGTERM");
      return exited;
    },
    async kill() {
      child.kill("SIGKILL");
      await exited;
    },
  };
}

export const runLog = (home: string, name: string) => path.join(home, `run-${name}-${Date.now()}.log`);
