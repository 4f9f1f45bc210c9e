#!/usr/bin/env node
// Installs what `npm start`, `npm test` and `npm run bench` need when it is
// missing: the npm packages, the nats-server binary (from the system
// package manager) unless NATS_URL points at a running server, the compiled
// build in dist/ (scripts/build.mjs, when a source is newer), and — for the
// tests only — promtool, which checks the Prometheus rules in deploy/, and
// Chromium, which runs the console's browser tests. Plain
// JavaScript with no dependencies, because it runs before `npm install`.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { ensureBuilt } from "./build.mjs";

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

/**
 * Installs a package with apt-get (as root, or through passwordless sudo;
 * --no-install-recommends: only the tool) or Homebrew. False when it could not.
 */
function systemInstall(aptPackage, brewPackage) {
  if (process.platform === "linux" && has("apt-get")) {
    const isRoot = typeof process.getuid === "function" && process.getuid() === 0;
    const sudo = isRoot ? [] : has("sudo") ? ["sudo", "-n"] : null;
    if (!sudo) return false;
    const apt = (...a) =>
      run(sudo[0] ?? "apt-get", sudo.length ? [...sudo.slice(1), "apt-get", ...a] : a, {
        env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" },
      });
    const install = () => apt("install", "-y", "-qq", "--no-install-recommends", aptPackage);
    return install() || (apt("update", "-qq") && install());
  }
  if (process.platform === "darwin" && has("brew")) return run("brew", ["install", brewPackage]);
  return false;
}

/** Installs `tool` (from `pkg`) or stops set-up with `howToInstall`: the tests and the stack cannot run without it. */
function installOrExit(tool, pkg, bin, howToInstall) {
  say(`${tool} is not on PATH; installing it…`);
  if (systemInstall(pkg, pkg) && has(bin)) return;
  say(howToInstall);
  process.exit(1);
}

function ensureNatsServer() {
  if (process.env.NATS_URL) return;
  const bin = process.env.NATS_SERVER_BIN || "nats-server";
  if (has(bin)) return;
  installOrExit(
    "nats-server",
    "nats-server",
    bin,
    "could not install nats-server. Install it yourself (Debian/Ubuntu: sudo apt-get install nats-server; " +
      "macOS: brew install nats-server; or a release from the NATS project), or set NATS_URL to a running server.",
  );
  say(`nats-server installed: ${spawnSync(bin, ["--version"], { encoding: "utf8" }).stdout.trim()}`);
}

// promtool (Debian/Ubuntu: the `prometheus` package; macOS: Homebrew's) checks
// and unit-tests deploy/prometheus/rules. Installed for `npm test` and
// `npm run test:*` (or with --with-promtool). Where apt or Homebrew exists but
// the install fails, set-up stops, as for nats-server. On a platform with
// neither, it says so and records it in PROMTOOL_UNAVAILABLE: only then do the
// promtool tests skip (with that reason) instead of failing.
const PROMTOOL_UNAVAILABLE = path.join(root, "node_modules", ".cache", "costline", "promtool-unavailable.json");

function ensurePromtool() {
  const wanted = (process.env.npm_lifecycle_event ?? "").startsWith("test") || process.argv.includes("--with-promtool");
  if (!wanted) return;
  const bin = process.env.PROMTOOL_BIN || "promtool";
  if (has(bin)) {
    rmSync(PROMTOOL_UNAVAILABLE, { force: true });
    return;
  }
  const aptPlatform = process.platform === "linux" && has("apt-get");
  const brewPlatform = process.platform === "darwin" && has("brew");
  if (!aptPlatform && !brewPlatform) {
    const reason = `promtool is not on PATH and ${process.platform} has neither apt-get nor Homebrew to install it`;
    say(
      `${reason}; the Prometheus rule tests will be skipped. Install promtool (a Prometheus release) and put it on PATH, or set PROMTOOL_BIN.`,
    );
    mkdirSync(path.dirname(PROMTOOL_UNAVAILABLE), { recursive: true });
    writeFileSync(PROMTOOL_UNAVAILABLE, JSON.stringify({ platform: process.platform, reason }) + "\n");
    return;
  }
  installOrExit(
    "promtool",
    "prometheus",
    bin,
    "could not install promtool, which the tests need. Install it yourself (Debian/Ubuntu: sudo apt-get install --no-install-recommends prometheus; " +
      "macOS: brew install prometheus; or a Prometheus release), or set PROMTOOL_BIN to it.",
  );
  rmSync(PROMTOOL_UNAVAILABLE, { force: true });
  say(`promtool installed: ${spawnSync(bin, ["--version"], { encoding: "utf8" }).stdout.split("\n")[0]}`);
}

// Chromium (Debian/Ubuntu: the `chromium` package; macOS: Homebrew's) runs
// the console's browser tests through playwright-core, which never downloads
// a browser of its own. Installed for `npm test` and `npm run test:*` (or
// with --with-chromium), the same way as promtool: where apt or Homebrew
// exists but the install fails, set-up stops; on a platform with neither it
// records why in CHROMIUM_UNAVAILABLE and only then do the browser tests skip.
const CHROMIUM_UNAVAILABLE = path.join(root, "node_modules", ".cache", "costline", "chromium-unavailable.json");
const chromiumCandidates = ["chromium", "chromium-browser", "google-chrome-stable", "google-chrome"];

function findChromium() {
  if (process.env.CHROMIUM_BIN)
    return has(process.env.CHROMIUM_BIN) || existsSync(process.env.CHROMIUM_BIN) ? process.env.CHROMIUM_BIN : undefined;
  return chromiumCandidates.find((c) => has(c));
}

function ensureChromium() {
  const wanted = (process.env.npm_lifecycle_event ?? "").startsWith("test") || process.argv.includes("--with-chromium");
  if (!wanted) return;
  if (findChromium()) {
    rmSync(CHROMIUM_UNAVAILABLE, { force: true });
    return;
  }
  const aptPlatform = process.platform === "linux" && has("apt-get");
  const brewPlatform = process.platform === "darwin" && has("brew");
  if (!aptPlatform && !brewPlatform) {
    const reason = `no Chromium on PATH and ${process.platform} has neither apt-get nor Homebrew to install it`;
    say(`${reason}; the browser tests will be skipped. Install Chromium or Chrome and put it on PATH, or set CHROMIUM_BIN.`);
    mkdirSync(path.dirname(CHROMIUM_UNAVAILABLE), { recursive: true });
    writeFileSync(CHROMIUM_UNAVAILABLE, JSON.stringify({ platform: process.platform, reason }) + "\n");
    return;
  }
  installOrExit(
    "chromium",
    "chromium",
    "chromium",
    "could not install Chromium, which the browser tests need. Install it yourself (Debian/Ubuntu: sudo apt-get install chromium; " +
      "macOS: brew install --cask chromium), or set CHROMIUM_BIN to a Chromium or Chrome binary.",
  );
  rmSync(CHROMIUM_UNAVAILABLE, { force: true });
  say(`chromium installed: ${spawnSync("chromium", ["--version"], { encoding: "utf8" }).stdout.trim()}`);
}

ensurePackages();
ensureNatsServer();
ensurePromtool();
ensureChromium();
// Last, once the packages are there: compile dist/ if a source is newer.
ensureBuilt();
