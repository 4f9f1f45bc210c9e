#!/usr/bin/env node
// Compiles pipeline/ and schemas/ into dist/ (JavaScript + type declarations)
// with tsc when dist/ is missing or older than any source, then bundles the
// CLI into dist/cli/ with esbuild: one file per command (the code of its own
// and of the packages it uses, whitespace removed), so a command's start-up
// reads and compiles a few files instead of hundreds. The library exports use
// dist/pipeline and dist/schemas. The check is a walk of file modification
// times (milliseconds), so `npm start`, `npm test` and a development
// checkout's `npx costline` can run it every time; tsc and esbuild run only
// when something changed. Plain JavaScript; the two tools are loaded only to
// build.
//
//   node scripts/build.mjs           build if stale
//   node scripts/build.mjs --force   build anyway
import { spawnSync } from "node:child_process";
import { createRequire } from "node:module";
import { existsSync, readdirSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const stamp = path.join(root, "dist", ".build-stamp");
const sourceDirs = ["pipeline", "schemas"];
const configFiles = ["tsconfig.json", "tsconfig.build.json", "package.json"];

function newestSourceMtime() {
  let newest = 0;
  const visit = (dir) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, entry.name);
      if (entry.isDirectory()) visit(p);
      else if (/\.tsx?$/.test(entry.name)) newest = Math.max(newest, statSync(p).mtimeMs);
    }
  };
  for (const d of sourceDirs) if (existsSync(path.join(root, d))) visit(path.join(root, d));
  for (const f of configFiles) if (existsSync(path.join(root, f))) newest = Math.max(newest, statSync(path.join(root, f)).mtimeMs);
  return newest;
}

/** True when this is a checkout with sources (an installed package has only dist/). */
export function hasSources() {
  return existsSync(path.join(root, "tsconfig.build.json")) && existsSync(path.join(root, "pipeline", "cli", "main.ts"));
}

const entry = path.join(root, "dist", "pipeline", "cli", "main.js");
/** The bundled CLI bin/costline.mjs runs. */
export const cliEntry = path.join(root, "dist", "cli", "main.js");
const buildInfo = path.join(root, "dist", ".tsbuildinfo");

export function isStale() {
  if (!existsSync(stamp) || !existsSync(entry) || !existsSync(cliEntry)) return true;
  return newestSourceMtime() > statSync(stamp).mtimeMs;
}

/** Builds when stale (or forced); exits the process with tsc's errors when the build fails. */
export function ensureBuilt({ force = false, quiet = false } = {}) {
  if (!hasSources()) return;
  if (!force && !isStale()) return;
  const startedAt = Date.now();
  if (!quiet) process.stderr.write("[build] compiling TypeScript into dist/…\n");
  const tsc = path.join(root, "node_modules", "typescript", "bin", "tsc");
  if (!existsSync(tsc)) {
    process.stderr.write("[build] typescript is not installed; run `npm install` first\n");
    process.exit(1);
  }
  // Outputs gone but the incremental record kept: tsc would think there is nothing to emit.
  if (!existsSync(entry)) rmSync(buildInfo, { force: true });
  // Stamp the start time: a source saved during the build makes the next check rebuild.
  const r = spawnSync(process.execPath, [tsc, "-p", "tsconfig.build.json"], { cwd: root, stdio: ["ignore", "inherit", "inherit"] });
  if (r.status !== 0) {
    process.stderr.write("[build] tsc failed; see the errors above\n");
    process.exit(1);
  }
  bundleCli();
  writeFileSync(stamp, `${new Date(startedAt).toISOString()}\n`);
  utimesSync(stamp, startedAt / 1000, startedAt / 1000);
  if (!quiet) process.stderr.write(`[build] done in ${((Date.now() - startedAt) / 1000).toFixed(1)} s\n`);
}

/**
 * Bundles dist/pipeline/cli/main.js and what it imports into dist/cli/: the
 * commands' modules stay separate chunks (each command's dynamic import), the
 * code they share is split out once. chdb is left out (a native addon, and
 * optional) and so is @clickhouse/client (see below); the bundle's chunks
 * find the package's data files from package.json upwards, as the unbundled
 * modules do. esbuild is loaded only here, so the stale check bin/ runs costs
 * nothing extra.
 */
function bundleCli() {
  let esbuild;
  try {
    esbuild = createRequire(import.meta.url)("esbuild");
  } catch {
    process.stderr.write("[build] esbuild is not installed; run `npm install` first\n");
    process.exit(1);
  }
  rmSync(path.dirname(cliEntry), { recursive: true, force: true });
  esbuild.buildSync({
    entryPoints: [entry],
    outdir: path.dirname(cliEntry),
    bundle: true,
    splitting: true,
    format: "esm",
    platform: "node",
    target: "node20",
    // chdb: a native addon. @clickhouse/client: imported dynamically by the
    // commands that open the ledger, where esbuild's wrapper of a CommonJS
    // package loses its named exports; Node loads it from node_modules.
    external: ["chdb", "@clickhouse/client"],
    minifyWhitespace: true,
    minifySyntax: true,
    sourcemap: "linked",
    logLevel: "warning",
    // Packages written as CommonJS call require(); give each chunk one.
    banner: { js: 'import { createRequire as __costlineRequire } from "node:module"; const require = __costlineRequire(import.meta.url);' },
  });
}

if (path.resolve(process.argv[1] ?? "") === fileURLToPath(import.meta.url)) ensureBuilt({ force: process.argv.includes("--force") });
