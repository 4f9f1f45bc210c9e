// `npm test` after set-up: the tests, with the type, lint, format and import
// checks (scripts/lint.mjs) running beside them at the lowest CPU priority.
// Much of a test file's time is spent waiting on the processes it starts, so
// on two cores the tests leave part of the machine idle, and the checks take
// that part instead of a minute and more of their own before the tests. When
// the tests end, the checks still running are raised to normal priority. The
// checks' report is printed after the tests'; the run fails when either fails.
// Arguments go to vitest (`npm test -- test/unit` runs the unit tests, and
// still every check).
import { Buffer } from "node:buffer";
import { spawn } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

function exitOf(child) {
  return new Promise((resolve) => {
    child.on("error", (err) => {
      process.stderr.write(`${err.message}\n`);
      resolve(1);
    });
    child.on("close", (code, signal) => resolve(code ?? (signal ? 1 : 0)));
  });
}

const lint = spawn(process.execPath, [path.join(root, "scripts", "lint.mjs"), "--low-priority"], {
  cwd: root,
  stdio: ["pipe", "pipe", "pipe"],
});
const lintOutput = [];
lint.stdout.on("data", (d) => lintOutput.push(d));
lint.stderr.on("data", (d) => lintOutput.push(d));
const lintDone = exitOf(lint);

const vitest = spawn(process.execPath, [path.join(root, "node_modules", "vitest", "vitest.mjs"), "run", ...process.argv.slice(2)], {
  cwd: root,
  stdio: "inherit",
});
const testsCode = await exitOf(vitest);
lint.stdin.end(); // the tests are done: the checks may take the whole machine
const lintCode = await lintDone;
process.stdout.write(Buffer.concat(lintOutput));

const failed = [testsCode !== 0 && "tests", lintCode !== 0 && "checks (tsc, ESLint, Prettier, imports)"].filter(Boolean);
if (failed.length > 0) {
  process.stderr.write(`npm test failed: ${failed.join(" and ")}\n`);
  process.exit(1);
}
