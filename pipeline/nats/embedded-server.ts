// Starts `nats-server -js` as a child process on a free loopback port, its
// store under $COSTLINE_HOME, and stops it with us. A leftover server from a
// crashed run (recorded in its pid file) is stopped first.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, openSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { CostlineError } from "../errors.ts";
import { isAlive, processCommandLine } from "../stack/processes.ts";

export class NatsServerError extends CostlineError {}

export interface EmbeddedNats {
  url: string;
  pid: number;
  stop(): Promise<void>;
}

export interface EmbeddedNatsOptions {
  bin: string;
  storeDir: string;
  logFile: string;
  port?: number;
  /** A nats-server configuration file (e.g. an authorization block); command-line options override it. */
  configFile?: string;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/** Stops a nats-server left running by an earlier, killed run on the same store. */
export async function stopLeftoverServer(storeDir: string): Promise<number | undefined> {
  const pidFile = path.join(storeDir, "nats-server.pid");
  if (!existsSync(pidFile)) return undefined;
  const pid = Number.parseInt(readFileSync(pidFile, "utf8").trim(), 10);
  if (!Number.isInteger(pid) || !isAlive(pid)) return undefined;
  const cmd = processCommandLine(pid);
  if (!cmd.includes("nats-server") || !cmd.includes(storeDir)) return undefined;
  process.kill(pid, "SIGTERM");
  for (let i = 0; i < 100 && isAlive(pid); i++) await sleep(50);
  if (isAlive(pid)) process.kill(pid, "SIGKILL");
  return pid;
}

/**
 * With a configuration file (users and permissions), everything but the
 * address lives in one file that includes it: a reload (SIGHUP) compares the
 * file with what runs, and refuses or restarts JetStream where command-line
 * options such as -n, -js and -sd differ from it.
 */
function writeMainConfig(storeDir: string, configFile: string): string {
  const main = path.join(storeDir, "nats-server.conf");
  // include paths are relative to the including file.
  const include = path.relative(storeDir, path.resolve(configFile));
  const text = [
    "# Written by costline at each start of the embedded server.",
    `server_name: "costline-embedded"`,
    `pid_file: ${JSON.stringify(path.join(storeDir, "nats-server.pid"))}`,
    `jetstream { store_dir: ${JSON.stringify(storeDir)} }`,
    `include ${JSON.stringify(include)}`,
    "",
  ].join("\n");
  writeFileSync(main, text, { mode: 0o600 });
  return main;
}

/**
 * Makes a running embedded server re-read its configuration (users and
 * permissions included) without dropping connections: what nats-server does
 * on SIGHUP. The pid is checked to be a nats-server first.
 */
export function reloadEmbeddedNats(pid: number): boolean {
  if (!isAlive(pid) || !processCommandLine(pid).includes("nats-server")) return false;
  process.kill(pid, "SIGHUP");
  return true;
}

/**
 * A store written before NATS had accounts keeps its streams under the global
 * account ($G); costline's users now live in `account`, so the store moves
 * there once, before the server starts, and nothing in it is lost.
 */
export function moveGlobalAccountStore(storeDir: string, account: string): boolean {
  const from = path.join(storeDir, "jetstream", "$G");
  const to = path.join(storeDir, "jetstream", account);
  if (!existsSync(from) || existsSync(to)) return false;
  renameSync(from, to);
  return true;
}

function resolveBinary(bin: string): string {
  const found = spawnSync("sh", ["-c", `command -v "${bin.replace(/"/g, "")}"`], { encoding: "utf8" });
  if (found.status !== 0 || !found.stdout.trim()) {
    throw new NatsServerError(
      `nats-server not found on PATH (looked for "${bin}"). Install it (Debian/Ubuntu: apt-get install nats-server; macOS: brew install nats-server), ` +
        "or set NATS_URL to use a running server.",
    );
  }
  return found.stdout.trim();
}

/** setpriv --pdeathsig makes the kernel stop the server when we die, even by SIGKILL. */
function withParentDeathSignal(bin: string, args: string[]): [string, string[]] {
  if (process.platform !== "linux") return [bin, args];
  const setpriv = spawnSync("sh", ["-c", "command -v setpriv"], { encoding: "utf8" });
  if (setpriv.status !== 0) return [bin, args];
  return [setpriv.stdout.trim(), ["--pdeathsig", "SIGTERM", bin, ...args]];
}

export async function startEmbeddedNats(opts: EmbeddedNatsOptions): Promise<EmbeddedNats> {
  const bin = resolveBinary(opts.bin);
  mkdirSync(opts.storeDir, { recursive: true });
  mkdirSync(path.dirname(opts.logFile), { recursive: true });
  await stopLeftoverServer(opts.storeDir);
  let lastError = "";
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = opts.port ?? (await freePort());
    const args = opts.configFile
      ? ["-a", "127.0.0.1", "-p", String(port), "-c", writeMainConfig(opts.storeDir, opts.configFile)]
      : [
          "-js",
          "-a",
          "127.0.0.1",
          "-p",
          String(port),
          "-sd",
          opts.storeDir,
          "-P",
          path.join(opts.storeDir, "nats-server.pid"),
          "-n",
          "costline-embedded",
        ];
    const [cmd, argv] = withParentDeathSignal(bin, args);
    const log = openSync(opts.logFile, "a");
    const child = spawn(cmd, argv, { stdio: ["ignore", log, log], detached: false });
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    const ready = await waitForPort(port, 15_000, exited);
    if (ready) return handle(child, port, exited);
    child.kill("SIGKILL");
    lastError = `nats-server did not come up on port ${port} (see ${opts.logFile})`;
  }
  throw new NatsServerError(lastError);
}

function handle(child: ChildProcess, port: number, exited: Promise<number | null>): EmbeddedNats {
  return {
    url: `nats://127.0.0.1:${port}`,
    pid: child.pid ?? -1,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGTERM");
      const force = setTimeout(() => child.kill("SIGKILL"), 10_000);
      await exited;
      clearTimeout(force);
    },
  };
}

async function waitForPort(port: number, timeoutMs: number, exited: Promise<number | null>): Promise<boolean> {
  let dead = false;
  void exited.then(() => (dead = true));
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline && !dead) {
    if (await canConnect(port)) return true;
    await sleep(50);
  }
  return false;
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect({ port, host: "127.0.0.1" });
    sock.once("connect", () => {
      sock.destroy();
      resolve(true);
    });
    sock.once("error", () => resolve(false));
  });
}
