/**
 * `herd bench`: a serving benchmark for any OpenAI-compatible endpoint, over HTTP only
 * (vLLM's `vllm bench serve`, with its flag names and metric names).
 *
 *   datasets/ (synthetic workloads) → benchmark.ts (arrivals, concurrency) → request-runner.ts
 *   (one streamed request: TTFT, ITL) → metrics.ts → format.ts (text), result.ts (JSON),
 *   report/ (HTML + SVG charts).
 * @module
 */
export { arrivalTimesMs, buildInput, runBenchmark, type RunResult, type TargetOptions } from "./benchmark.js";
export { type DatasetOptions, makeDataset, needsChat } from "./datasets/index.js";
export { calculateMetrics, DEFAULT_PERCENTILES, type BenchmarkMetrics } from "./metrics.js";
export { renderReport } from "./report/html.js";
export { sendRequest, buildRequestBody } from "./request-runner.js";
export { type BenchResult, loadResult, type RunRecord } from "./result.js";
export { type BenchConfig, type BenchIo, runBench, runCompare } from "./run.js";
export type * from "./types.js";
