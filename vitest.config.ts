import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // Tests that spawn the CLI or a stack run the compiled build: make it fresh first.
    globalSetup: ["./test/global-build.ts"],
    // One process per test file: the embedded ClickHouse engine is a process singleton. Two files at
    // a time: most of a file's time is spent waiting on the processes it starts (nats-server, `costline
    // up`, the CLI), and files share nothing (free ports, their own temporary homes).
    pool: "forks",
    fileParallelism: true,
    maxWorkers: 2,
    minWorkers: 1,
    testTimeout: 120_000,
    hookTimeout: 120_000,
    reporters: ["default", "./test/summary-reporter.ts"],
  },
});
