#!/usr/bin/env node
// Installs what `npm start`, `npm test` and `npm run bench` need when it is
// missing: the npm packages, and the nats-server binary (from the system
// package manager) unless NATS_URL points at a running server. Plain
// JavaScript with no dependencies, because it runs before `npm install`.
import { spawnSync } from "node:child_process";
import { existsSync, statSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const say = (msg) => process.stderr.write(`[setup] ${msg}\n`);
const has = (cmd) => spawnSync("sh", ["-c", `command -v ${cmd}`], { stdio: "ignore" }).status === 0;
const run = (cmd, args, opts = {}) => spawnSync(cmd, args, { stdio: "inherit", cwd: root, ...opts }).status === 0;

function ensurePackages() {
  const marker = path.join(root, "node_modules", ".package-lock.json");
  const lock = path.join(root, "package-lock.json");
  const fresh = existsSync(marker) && (!existsSync(lock) || statSync(marker).mtimeMs >= statSync(lock).mtimeMs);
  if (fresh && existsSync(path.join(root, "node_modules", "tsx"))) return;
  say("installing npm packages…");
  // `npm install`, not `npm ci`: it honours the lock file, and npm 11 records
  // other platforms' optional packages (chdb's, esbuild's) in a way `npm ci` rejects.
  if (!run("npm", ["install", "--no-audit", "--no-fund"])) {
    say("npm install failed; see the output above");
    process.exit(1);
  }
}

function ensureNatsServer() {
  if (process.env.NATS_URL) return;
  const bin = process.env.NATS_SERVER_BIN || "nats-server";
  if (has(bin)) return;
  say("nats-server is not on PATH; installing it…");
  const root = typeof process.getuid === "function" && process.getuid() === 0;
  const sudo = root ? [] : has("sudo") ? ["sudo", "-n"] : null;
  let ok = false;
  if (process.platform === "linux" && has("apt-get") && sudo) {
    const apt = (...a) => run(sudo[0] ?? "apt-get", sudo.length ? [...sudo.slice(1), "apt-get", ...a] : a, { env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" } });
    ok = apt("install", "-y", "-qq", "nats-server") || (apt("update", "-qq") && apt("install", "-y", "-qq", "nats-server"));
  } else if (process.platform === "darwin" && has("brew")) {
    ok = run("brew", ["install", "nats-server"]);
  }
  if (!ok || !has(bin)) {
    say(
      "could not install nats-server. Install it yourself (Debian/Ubuntu: sudo apt-get install nats-server; " +
        "macOS: brew install nats-server; or a release from the NATS project), or set NATS_URL to a running server.",
    );
    process.exit(1);
  }
  say(`nats-server installed: ${spawnSync(bin, ["--version"], { encoding: "utf8" }).stdout.trim()}`);
}

ensurePackages();
ensureNatsServer();
