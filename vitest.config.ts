import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["src/**/*.test.ts", "test/**/*.test.ts"],
    testTimeout: 120_000,
    hookTimeout: 300_000,
    // llama.cpp work is CPU-bound on a 2-core machine: run test files one at a time.
    fileParallelism: false,
    pool: "forks",
  },
});
