// `npm run lint`: the type check, ESLint, Prettier and the import-layer check,
// run side by side. Each is one single-threaded process, and tsc and ESLint
// each take most of a minute, so on a machine of two cores or more running
// them together roughly halves the wall time of running them one after
// another. Each check's output is held and printed whole, in a fixed order,
// once it ends; the run fails when any check fails, naming which.
import { Buffer } from "node:buffer";
import { spawn } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const bin = (pkg, file) => path.join(root, "node_modules", pkg, file);

const checks = [
  { name: "tsc", args: [bin("typescript", "bin/tsc"), "-p", ".", "--noEmit"] },
  { name: "eslint", args: [bin("eslint", "bin/eslint.js"), "."] },
  { name: "prettier", args: [bin("prettier", "bin/prettier.cjs"), "--check", "."] },
  { name: "imports", args: [path.join(root, "scripts", "check-imports.mjs")] },
];

function run({ name, args }) {
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { cwd: root, stdio: ["ignore", "pipe", "pipe"] });
    const output = [];
    child.stdout.on("data", (d) => output.push(d));
    child.stderr.on("data", (d) => output.push(d));
    child.on("error", (err) => resolve({ name, code: 1, output: Buffer.from(`${err.message}\n`), seconds: 0 }));
    child.on("close", (code) => resolve({ name, code: code ?? 1, output: Buffer.concat(output), seconds: (Date.now() - started) / 1000 }));
  });
}

const results = await Promise.all(checks.map(run));
for (const r of results) {
  process.stdout.write(`[lint] ${r.name}: ${r.code === 0 ? "passed" : `failed (exit ${r.code})`} in ${r.seconds.toFixed(1)} s\n`);
  if (r.output.length > 0) process.stdout.write(r.output);
}
const failed = results.filter((r) => r.code !== 0).map((r) => r.name);
if (failed.length > 0) {
  process.stderr.write(`[lint] failed: ${failed.join(", ")}\n`);
  process.exit(1);
}
