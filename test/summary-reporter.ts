// Ends the run with one plain line, "tests: N passed, N failed[, N skipped]",
// that any CI log reader understands.
import type { Reporter, TestModule } from "vitest/node";

export default class SummaryReporter implements Reporter {
  onTestRunEnd(modules: ReadonlyArray<TestModule>): void {
    let passed = 0;
    let failed = 0;
    let skipped = 0;
    for (const m of modules)
      for (const t of m.children.allTests()) {
        const state = t.result().state;
        if (state === "passed") passed++;
        else if (state === "failed") failed++;
        else skipped++;
      }
    const errored = modules.filter((m) => m.state() === "failed" && [...m.children.allTests()].length === 0).length;
    const line = `tests: ${passed} passed, ${failed + errored} failed${skipped ? `, ${skipped} skipped` : ""}`;
    // Printed at exit so it is the last line, after the default reporter's summary.
    process.once("exit", () => process.stdout.write(`\n${line}\n`));
  }
}
