// `npm run lint`: the type check, ESLint, Prettier and the import-layer check,
// run side by side. Each is one single-threaded process, and tsc and ESLint
// each take most of a minute, so on a machine of two cores or more running
// them together roughly halves the wall time of running them one after
// another. Each check's output is held and printed whole, in a fixed order,
// once it ends; the run fails when any check fails, naming which.
//
// `--low-priority` (how `npm test` runs it, beside the tests): the checks start
// at the lowest CPU priority, so they take only the cores the tests leave idle.
// When its standard input ends (the tests are done), each check still running
// is raised back to normal priority; where the system does not allow that (an
// unprivileged user may lower a priority, not raise it), the check is started
// again at normal priority instead, so it never crawls behind other work on a
// busy machine.
import { Buffer } from "node:buffer";
import { spawn } from "node:child_process";
import { existsSync, readFileSync, readdirSync } from "node:fs";
import os from "node:os";
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

const lowPriority = process.argv.includes("--low-priority");
const running = new Map(); // check name -> its child, while it runs at low priority

/** The process and every process below it (a check may start its own, as the import check does). */
function processTree(pid) {
  if (!existsSync("/proc/self/stat")) return [pid];
  const children = new Map();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // The field after the command name's closing parenthesis: state, then the parent's pid.
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)]);
    } catch {
      // the process ended while we looked
    }
  }
  const tree = [pid];
  for (let i = 0; i < tree.length; i++) tree.push(...(children.get(tree[i]) ?? []));
  return tree;
}

/** Raises every thread of a process tree to normal priority (Linux keeps one per thread); false where not allowed. */
function raise(pid) {
  for (const p of processTree(pid)) {
    const taskDir = `/proc/${p}/task`;
    const threads = existsSync(taskDir) ? readdirSync(taskDir).map(Number) : [p];
    for (const tid of threads) {
      try {
        os.setPriority(tid, os.constants.priority.PRIORITY_NORMAL);
      } catch (err) {
        if (err.code !== "ESRCH") return false; // ESRCH: a thread that just ended needs nothing
      }
    }
  }
  return true;
}

function runOnce({ name, args }, low) {
  return new Promise((resolve) => {
    // Through nice(1), so the check and every thread it starts begin at the lowest priority; this
    // process keeps its own, so a check started again (see raiseAll below) runs at normal priority.
    const [cmd, argv] = low ? ["nice", ["-n", "19", process.execPath, ...args]] : [process.execPath, args];
    const child = spawn(cmd, argv, { cwd: root, stdio: ["ignore", "pipe", "pipe"] });
    const output = [];
    child.stdout.on("data", (d) => output.push(d));
    child.stderr.on("data", (d) => output.push(d));
    if (low) running.set(name, child);
    child.on("error", (err) => {
      running.delete(name);
      resolve({ code: 1, output: Buffer.from(`${err.message}\n`), signal: null, missing: err.code === "ENOENT" });
    });
    child.on("close", (code, signal) => {
      running.delete(name);
      resolve({ code: code ?? 1, output: Buffer.concat(output), signal });
    });
  });
}

const restarted = new Set();
async function run(check) {
  const started = Date.now();
  let r = await runOnce(check, lowPriority);
  // Stopped by us to start again at normal priority (see raiseAll below), or no nice(1) on this system.
  if ((restarted.has(check.name) && r.signal === "SIGTERM") || (lowPriority && r.missing)) r = await runOnce(check, false);
  return { name: check.name, code: r.code, output: r.output, seconds: (Date.now() - started) / 1000 };
}

function raiseAll() {
  for (const [name, child] of running) {
    running.delete(name);
    if (!raise(child.pid)) {
      restarted.add(name);
      child.kill("SIGTERM");
    }
  }
}
if (lowPriority) {
  process.stdin.on("end", raiseAll);
  process.stdin.resume();
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
process.exit(0); // not waiting on standard input once every check is done
