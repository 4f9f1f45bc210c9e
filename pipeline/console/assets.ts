// The console's static files: its own script and style sheet, and the two
// libraries it uses, read from their npm packages (no CDN, nothing fetched at
// run time). Loaded once and kept in memory; served with nosniff.
import { packagePath } from "../package-root.ts";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import type { Context } from "hono";

const require = createRequire(import.meta.url);
const fromPackage = (pkg: string, file: string) => path.join(path.dirname(require.resolve(`${pkg}/package.json`)), file);

const files: Record<string, { file: string; type: string }> = {
  "console.js": { file: packagePath("pipeline", "console", "static", "console.js"), type: "text/javascript; charset=utf-8" },
  "console.css": { file: packagePath("pipeline", "console", "static", "console.css"), type: "text/css; charset=utf-8" },
  "htmx.min.js": { file: fromPackage("htmx.org", "dist/htmx.min.js"), type: "text/javascript; charset=utf-8" },
  "uplot.min.js": { file: fromPackage("uplot", "dist/uPlot.iife.min.js"), type: "text/javascript; charset=utf-8" },
  "uplot.min.css": { file: fromPackage("uplot", "dist/uPlot.min.css"), type: "text/css; charset=utf-8" },
};

const cache = new Map<string, Buffer>();

export const assetNames = Object.keys(files);

export function serveAsset(c: Context, name: string): Response {
  const entry = files[name];
  if (!entry) return c.text("not found", 404);
  let body = cache.get(name);
  if (!body) cache.set(name, (body = readFileSync(entry.file)));
  return c.body(new Uint8Array(body), 200, {
    "content-type": entry.type,
    "cache-control": "public, max-age=300",
    "x-content-type-options": "nosniff",
  });
}
