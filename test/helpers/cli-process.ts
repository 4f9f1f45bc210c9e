// The costline CLI as a user runs it, with exactly the environment given
// (nothing inherited that could carry a secret by accident), its output
// captured in memory so a test can search it.
import { execFile, spawn, type ChildProcess } from "node:child_process";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { readStackFile, type StackInfo } from "../../pipeline/stack/stack-file.ts";
import { cliPath, repoRoot } from "./stack-process.ts";

/** PATH and HOME only: what a clean shell would have, plus `env`. */
export function cleanEnv(env: Record<string, string>): Record<string, string> {
  return { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", ...env };
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function runCli(args: string[], env: Record<string, string>, timeoutMs = 60_000): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, [cliPath, ...args], { cwd: repoRoot, env: cleanEnv(env), timeout: timeoutMs }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === "number" ? (err as { code: number }).code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

export interface UpProcess {
  child: ChildProcess;
  info: StackInfo;
  /** Everything it printed so far, stdout and stderr. */
  output(): string;
  stop(): Promise<number | null>;
}

/** `costline up` with exactly `env` (COSTLINE_HOME included); resolves once its stack.json names it. */
export async function startUp(env: Record<string, string>, timeoutMs = 90_000): Promise<UpProcess> {
  let out = "";
  const child = spawn(process.execPath, [cliPath, "up"], {
    cwd: repoRoot,
    env: cleanEnv({ COSTLINE_API_PORT: "0", ...env }),
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const stackFile = path.join(env.COSTLINE_HOME!, "stack.json");
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const info = readStackFile(stackFile);
    if (info && info.pid === child.pid) {
      return {
        child,
        info,
        output: () => out,
        async stop() {
          child.kill("SIGTERM");
          return exited;
        },
      };
    }
    if (child.exitCode !== null) throw new Error(`costline up exited with ${child.exitCode}: ${out.slice(-2000)}`);
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`costline up did not write stack.json in time: ${out.slice(-2000)}`);
    }
    await sleep(100);
  }
}
