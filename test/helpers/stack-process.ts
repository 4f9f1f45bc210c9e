// Runs `costline up` as a real child process on its own $COSTLINE_HOME, the
// way a user does, and finds it through the stack.json it writes.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, openSync, readFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { readStackFile, type StackInfo } from "../../pipeline/stack/stack-file.ts";

export const repoRoot = path.resolve(import.meta.dirname, "../..");
export const cliPath = path.join(repoRoot, "bin", "costline.mjs");

function withParentDeathSignal(bin: string, args: string[]): [string, string[]] {
  if (process.platform !== "linux") return [bin, args];
  const setpriv = spawnSync("sh", ["-c", "command -v setpriv"], { encoding: "utf8" });
  return setpriv.status === 0 ? [setpriv.stdout.trim(), ["--pdeathsig", "SIGKILL", bin, ...args]] : [bin, args];
}

export function tempHome(prefix = "costline-test-"): string {
  return mkdtempSync(path.join(os.tmpdir(), prefix));
}

export interface StackProcess {
  child: ChildProcess;
  info: StackInfo;
  home: string;
  /** The admin key `costline up` created in $COSTLINE_HOME/admin.key. */
  adminKey: string;
  /** GET an API path with the admin key (or another key), parsed as JSON; throws on a non-2xx answer. */
  api<T>(pathAndQuery: string, key?: string): Promise<T>;
  /** Read-only SQL through the API, one object per row. */
  sql<T>(query: string): Promise<T[]>;
  /** Ends the process with SIGTERM and waits for a clean exit; returns its exit code. */
  stop(): Promise<number | null>;
  kill(): Promise<void>;
}

export async function startStack(
  home: string,
  env: Record<string, string> = {},
  args: string[] = [],
  nodeArgs: string[] = [],
): Promise<StackProcess> {
  const out = openSync(path.join(home, `up-${Date.now()}.out`), "a");
  // The kernel kills the stack if this process dies, even by SIGKILL: a test or
  // a chaos/fuzz run stopped half-way must not leave a pipeline running.
  const [cmd, argv] = withParentDeathSignal(process.execPath, [...nodeArgs, cliPath, "up", ...args]);
  const child = spawn(cmd, argv, {
    cwd: repoRoot,
    env: { ...process.env, COSTLINE_HOME: home, COSTLINE_API_PORT: "0", COSTLINE_LOG_LEVEL: "info", ...env },
    stdio: ["ignore", out, out],
  });
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const deadline = Date.now() + 90_000;
  for (;;) {
    const info = readStackFile(path.join(home, "stack.json"));
    if (info && info.pid === child.pid) {
      const adminKey = readFileSync(path.join(home, "admin.key"), "utf8").trim();
      return {
        child,
        info,
        home,
        adminKey,
        api: <T>(p: string, key = adminKey) => getJson<T>(`${info.api_url}${p}`, key),
        async sql<T>(query: string): Promise<T[]> {
          const res = await fetch(`${info.api_url}/v1/sql`, {
            method: "POST",
            headers: { authorization: `Bearer ${adminKey}` },
            body: JSON.stringify({ query }),
          });
          if (!res.ok) throw new Error(`${res.status} ${await res.text()}`);
          return (await res.text())
            .trim()
            .split("\n")
            .filter(Boolean)
            .map((l) => JSON.parse(l) as T);
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
    if (child.exitCode !== null) throw new Error(`costline up exited with ${child.exitCode}; see ${home}`);
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`costline up did not write stack.json within 90 s; see ${home}`);
    }
    await sleep(100);
  }
}

export async function getJson<T>(url: string, key?: string): Promise<T> {
  const res = await fetch(url, key ? { headers: { authorization: `Bearer ${key}` } } : {});
  if (!res.ok) throw new Error(`${url}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

/** Polls until `check` returns a value, or fails after `timeoutMs`. COSTLINE_TEST_WAITS=1 prints how long each wait took. */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const started = Date.now();
  const deadline = started + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined) {
        if (process.env.COSTLINE_TEST_WAITS) process.stderr.write(`waited ${Date.now() - started} ms for ${what}\n`);
        return v;
      }
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ""}`);
    await sleep(100);
  }
}
