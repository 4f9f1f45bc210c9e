// Where the browser tests find Chromium: CHROMIUM_BIN, else the first of the
// usual names on PATH. scripts/setup.mjs installs Debian's chromium for
// `npm test` when there is none; playwright-core never downloads its own.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";

const names = ["chromium", "chromium-browser", "google-chrome-stable", "google-chrome"];

export function findChromium(): string | undefined {
  const fromEnv = process.env.CHROMIUM_BIN;
  if (fromEnv) return existsSync(fromEnv) ? fromEnv : undefined;
  for (const n of names) {
    const r = spawnSync("sh", ["-c", `command -v ${n}`], { encoding: "utf8" });
    if (r.status === 0 && r.stdout.trim()) return r.stdout.trim();
  }
  return undefined;
}
