import { defineConfig } from "vitest/config";

/**
 * Two projects, every test file in exactly one:
 *
 * - `unit`: no model, no llama.cpp, no fixtures, no chromium or radosgw; seconds in all
 *   (`npm run test:unit`). Unit tests sit next to the code (`src/**\/*.test.ts`), plus the pure
 *   suites under test/ listed in PURE_IN_TEST. test/fixtures/unit-guard.ts makes any model load
 *   throw there, so a model-backed test that lands in this set by mistake fails loudly.
 * - `model`: everything that loads a model (GGUF through llama.cpp), builds native code, or drives a
 *   real `herd serve`, chromium or radosgw: test/ (end-to-end and model-backed suites) plus the
 *   model-backed tests that sit next to their code, listed in MODEL_BACKED_IN_SRC.
 *
 * `npm test` runs both (`vitest run`); `npx vitest run --project model` runs the second alone.
 */

/** Tests under src/ that need a model, llama.cpp or a native build. */
export const MODEL_BACKED_IN_SRC = [
  "src/model/embedded.test.ts", // writes the embedded Llama 4 GGUF
  "src/model/llama4/random-model.test.ts", // loads the generated model in llama.cpp
  "src/model/llama4/random-mmproj.test.ts", // writes the embedded vision projector; fixture llama4-tiny-hf
  "src/native/mtmd.test.ts", // libmtmd over the embedded model and projector
  "src/native/mtmd-build.test.ts", // builds libmtmd (cmake, g++)
];

/** Suites under test/ that need none of that (test/deploy/plan-command.test.ts reads the embedded model's GGUF). */
export const PURE_IN_TEST = [
  "test/deploy/chart.test.ts",
  "test/deploy/deploy.test.ts",
  "test/deploy/dockerfile-dashboard.test.ts",
  "test/deploy/doctor.test.ts",
  "test/deploy/neuron-scripts.test.ts",
  "test/deploy/router-chart.test.ts",
  "test/storage/fs-store.test.ts",
];

export default defineConfig({
  test: {
    testTimeout: 120_000,
    hookTimeout: 300_000,
    // llama.cpp work is CPU-bound on a 2-core machine: run test files one at a time.
    fileParallelism: false,
    pool: "forks",
    projects: [
      {
        extends: true,
        test: {
          name: "unit",
          include: ["src/**/*.test.ts", ...PURE_IN_TEST],
          exclude: MODEL_BACKED_IN_SRC,
          env: { HERD_UNIT_TESTS: "1" },
          setupFiles: ["test/fixtures/unit-guard.ts"],
        },
      },
      {
        extends: true,
        test: {
          name: "model",
          include: ["test/**/*.test.ts", ...MODEL_BACKED_IN_SRC],
          exclude: PURE_IN_TEST,
        },
      },
    ],
  },
});
