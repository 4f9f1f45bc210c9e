import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // Tests that spawn the CLI or a stack run the compiled build: make it fresh first.
    globalSetup: ["./test/global-build.ts"],
    // One process per test file: the embedded ClickHouse engine is a process singleton.
    pool: "forks",
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 120_000,
    reporters: ["default", "./test/summary-reporter.ts"],
  },
});
