/**
 * What `herd bench` does, minus argument parsing:
 *   1. resolve the model (first of `GET /v1/models` when not given);
 *   2. build the dataset (seeded);
 *   3. send one test request (vLLM's "initial test run"): a failure stops here with its message;
 *   4. send `numWarmups` unrecorded requests;
 *   5. run every load point of the sweep (request rates × max concurrencies), printing each result;
 *   6. save the JSON result and the HTML report.
 * @module
 */
import { mkdir, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { buildInput, type RunResult, runBenchmark, type TargetOptions } from "./benchmark.js";
import { type DatasetOptions, makeDataset } from "./datasets/index.js";
import { formatCompare, formatRun, formatSweep } from "./format.js";
import { createProgress } from "./progress.js";
import { renderReport } from "./report/html.js";
import { sendRequest } from "./request-runner.js";
import { type BenchResult, loadLabel, loadResult, saveResult, toRunRecord } from "./result.js";
import type { DatasetName, LoadPoint } from "./types.js";

export interface BenchConfig {
  readonly target: Omit<TargetOptions, "model"> & { readonly model: string | null };
  readonly datasetName: DatasetName;
  readonly dataset: DatasetOptions;
  /** The sweep: every rate × every concurrency. */
  readonly requestRates: readonly number[];
  readonly maxConcurrencies: readonly (number | null)[];
  readonly burstiness: number;
  readonly numWarmups: number;
  readonly percentiles: readonly number[];
  readonly label: string | null;
  readonly metadata: Readonly<Record<string, string>>;
  /** Write `<resultDir>/<resultFilename>` (.json) and the report beside it (.html). */
  readonly saveResult: boolean;
  readonly resultDir: string;
  readonly resultFilename: string | null;
  /** Write the HTML report here (also without `saveResult`). */
  readonly reportFilename: string | null;
  readonly showProgress: boolean;
  /** Options as given, saved in the result's `config`. */
  readonly echo: Readonly<Record<string, unknown>>;
  readonly version: string;
}

export interface BenchIo {
  /** Results and summaries (stdout). */
  readonly out: (text: string) => void;
  readonly signal?: AbortSignal;
}

/** The first model `GET /v1/models` lists. */
async function fetchFirstModel(baseUrl: string, apiKey: string | undefined): Promise<string> {
  const url = `${baseUrl.replace(/\/+$/, "")}/v1/models`;
  const res = await fetch(url, { headers: apiKey ? { authorization: `Bearer ${apiKey}` } : {} }).catch((e: Error & { cause?: Error }) => {
    throw new Error(`cannot reach ${url}: ${e.cause?.message ?? e.message}`);
  });
  if (!res.ok)
    throw new Error(`GET ${url} answered ${res.status}${res.status === 401 ? " (pass --api-key or set HERD_API_KEY)" : ""}; pass --model`);
  const body = (await res.json()) as { data?: { id?: string }[] };
  const id = body.data?.[0]?.id;
  if (!id) throw new Error(`GET ${url} lists no model; pass --model`);
  return id;
}

function sweepPoints(rates: readonly number[], concurrencies: readonly (number | null)[]): LoadPoint[] {
  return rates.flatMap((requestRate) => concurrencies.map((maxConcurrency) => ({ requestRate, maxConcurrency })));
}

function stamp(d: Date): string {
  return d.toISOString().replace(/[-:]/g, "").replace("T", "-").slice(0, 15);
}

export async function runBench(config: BenchConfig, io: BenchIo): Promise<BenchResult> {
  const model = config.target.model ?? (await fetchFirstModel(config.target.baseUrl, config.target.apiKey));
  const target: TargetOptions = { ...config.target, model };
  const conversations = makeDataset(config.datasetName, config.dataset);
  const first = conversations[0]?.turns[0];
  if (!first) throw new Error("the dataset is empty (--num-prompts must be ≥ 1)");

  io.out(`herd bench: ${config.datasetName} × ${config.dataset.numPrompts} against ${target.baseUrl}${target.endpoint} (model ${model})`);
  const test = await sendRequest(
    target.kind,
    buildInput(target, first, [], "bench-test", conversations[0]!.system),
    performance.now(),
    io.signal,
  );
  if (!test.success) {
    const hint = test.status === 401 ? " (pass --api-key or set HERD_API_KEY)" : "";
    throw new Error(`initial test request failed: ${test.error}${hint}`);
  }
  if (config.numWarmups > 0) {
    const warm = conversations
      .slice(0, config.numWarmups)
      .map((c) => ({ turns: c.turns.slice(0, 1), ...(c.system ? { system: c.system } : {}) }));
    const limit = Math.min(config.numWarmups, config.maxConcurrencies[0] ?? config.numWarmups);
    await runBenchmark(target, warm, {
      load: { requestRate: Infinity, maxConcurrency: limit },
      burstiness: 1,
      seed: config.dataset.seed,
      percentiles: config.percentiles,
      ...(io.signal ? { signal: io.signal } : {}),
    });
  }

  const runs: RunResult[] = [];
  for (const load of sweepPoints(config.requestRates, config.maxConcurrencies)) {
    if (io.signal?.aborted) break;
    const numRequests = conversations.reduce((a, c) => a + c.turns.length, 0);
    const progress = createProgress(
      numRequests,
      loadLabel({ request_rate: Number.isFinite(load.requestRate) ? load.requestRate : "inf", max_concurrency: load.maxConcurrency }),
      config.showProgress,
    );
    const run = await runBenchmark(target, conversations, {
      load,
      burstiness: config.burstiness,
      seed: config.dataset.seed,
      percentiles: config.percentiles,
      onRequestDone: (o) => progress.update(o),
      ...(io.signal ? { signal: io.signal } : {}),
    }).finally(() => progress.stop());
    runs.push(run);
    io.out(formatRun(toRunRecord(run), config.percentiles));
  }

  const result: BenchResult = {
    tool: "herd bench",
    version: config.version,
    date: new Date().toISOString(),
    label: config.label ?? `${model} @ ${new URL(target.baseUrl).host}`,
    config: { ...config.echo, model, endpoint: target.endpoint, base_url: target.baseUrl },
    metadata: { ...config.metadata },
    runs: runs.map(toRunRecord),
  };
  if (result.runs.length > 1) io.out(`\nSweep (${result.label}):\n${formatSweep(result.runs)}`);
  await writeOutputs(config, result, model, io);
  return result;
}

async function writeOutputs(config: BenchConfig, result: BenchResult, model: string, io: BenchIo): Promise<void> {
  let reportPath = config.reportFilename;
  if (config.saveResult) {
    const name = config.resultFilename ?? `herd-bench-${config.datasetName}-${model.replace(/[^\w.-]+/g, "_")}-${stamp(new Date())}.json`;
    const jsonPath = join(config.resultDir, name);
    await mkdir(dirname(jsonPath), { recursive: true });
    await saveResult(jsonPath, result);
    io.out(`result: ${jsonPath}`);
    reportPath ??= jsonPath.replace(/\.json$/i, "") + ".html";
  }
  if (reportPath) {
    await mkdir(dirname(reportPath), { recursive: true });
    await writeFile(reportPath, renderReport([result]));
    io.out(`report: ${reportPath}`);
  }
}

/** `--compare A.json B.json`: prints B/A for every metric of every matching load point; optionally one report of both. */
export async function runCompare(
  pathA: string,
  pathB: string,
  reportFilename: string | null,
  io: BenchIo,
): Promise<[BenchResult, BenchResult]> {
  const [a, b] = await Promise.all([loadResult(pathA), loadResult(pathB)]);
  if (a.label === b.label) {
    a.label = `A: ${a.label}`;
    b.label = `B: ${b.label}`;
  }
  io.out(`A = ${pathA}\nB = ${pathB}\n\n${formatCompare(a, b)}`);
  if (reportFilename) {
    await mkdir(dirname(reportFilename), { recursive: true });
    await writeFile(reportFilename, renderReport([a, b]));
    io.out(`report: ${reportFilename}`);
  }
  return [a, b];
}
