/**
 * The saved result of `herd bench` (`--save-result`): one JSON file per invocation, one entry in
 * `runs` per load point of the sweep. Each run holds vLLM's flat metric keys (`request_throughput`,
 * `mean_ttft_ms`, `p99_itl_ms`, …) plus the per-request samples the report draws from. vLLM's own
 * result files (`vllm bench serve --save-result`, one flat object) load as a single run.
 * @module
 */
import { readFile, writeFile } from "node:fs/promises";
import type { RunResult } from "./benchmark.js";
import type { BenchmarkMetrics } from "./metrics.js";

export interface RunRecord {
  /** Requests/s, or "inf" (vLLM's spelling; JSON has no Infinity). */
  request_rate: number | "inf";
  max_concurrency: number | null;
  burstiness: number;
  started_at: string;
  metrics: BenchmarkMetrics;
  /** Per request, in send order. Times are ms; `ttfts_ms` is 0 and `errors` non-empty for failures. */
  start_times_ms: number[];
  input_lens: number[];
  output_lens: number[];
  ttfts_ms: number[];
  e2els_ms: number[];
  itls_ms: number[][];
  errors: string[];
}

export interface BenchResult {
  tool: "herd bench";
  version: string;
  date: string;
  /** Names the series in reports and comparisons (`--label`; default: model @ host). */
  label: string;
  /** The resolved options of the invocation (flag names in snake case). */
  config: Record<string, unknown>;
  /** `--metadata KEY=VALUE` pairs. */
  metadata: Record<string, string>;
  runs: RunRecord[];
}

const round = (x: number) => Math.round(x * 1000) / 1000;

export function toRunRecord(r: RunResult): RunRecord {
  return {
    request_rate: Number.isFinite(r.load.requestRate) ? r.load.requestRate : "inf",
    max_concurrency: r.load.maxConcurrency,
    burstiness: r.burstiness,
    started_at: r.startedAt,
    metrics: r.metrics,
    start_times_ms: r.outputs.map((o) => round(o.startMs)),
    input_lens: r.outputs.map((o) => o.numPromptTokens),
    output_lens: r.outputs.map((o) => (o.success ? o.numOutputTokens : 0)),
    ttfts_ms: r.outputs.map((o) => round(o.ttftMs)),
    e2els_ms: r.outputs.map((o) => round(o.latencyMs)),
    itls_ms: r.outputs.map((o) => o.itlMs.map(round)),
    errors: r.outputs.map((o) => (o.success ? "" : o.error)),
  };
}

/** "c8", "rate 2/s", "rate 2/s c8", "unbounded": a run's load point in words. */
export function loadLabel(run: Pick<RunRecord, "request_rate" | "max_concurrency">): string {
  const parts: string[] = [];
  if (run.request_rate !== "inf") parts.push(`rate ${run.request_rate}/s`);
  if (run.max_concurrency !== null) parts.push(`c${run.max_concurrency}`);
  return parts.length > 0 ? parts.join(" ") : "unbounded";
}

function fromVllm(raw: Record<string, unknown>, path: string): BenchResult {
  const metrics: BenchmarkMetrics = {};
  for (const [k, v] of Object.entries(raw)) if (typeof v === "number") metrics[k] = v;
  const seconds = (key: string) => (Array.isArray(raw[key]) ? (raw[key] as number[]).map((s) => s * 1000) : []);
  const ttfts = seconds("ttfts");
  const rate = raw.request_rate;
  return {
    tool: "herd bench",
    version: "vllm",
    date: String(raw.date ?? ""),
    label: String(raw.label ?? raw.model_id ?? path),
    config: { backend: raw.backend, model: raw.model_id },
    metadata: {},
    runs: [
      {
        request_rate: typeof rate === "number" ? rate : "inf",
        max_concurrency: typeof raw.max_concurrency === "number" ? raw.max_concurrency : null,
        burstiness: typeof raw.burstiness === "number" ? raw.burstiness : 1,
        started_at: String(raw.date ?? ""),
        metrics,
        start_times_ms: ttfts.map(() => 0),
        input_lens: (raw.input_lens as number[] | undefined) ?? [],
        output_lens: (raw.output_lens as number[] | undefined) ?? [],
        ttfts_ms: ttfts,
        e2els_ms: [],
        itls_ms: Array.isArray(raw.itls) ? (raw.itls as number[][]).map((l) => l.map((s) => s * 1000)) : [],
        errors: (raw.errors as string[] | undefined) ?? [],
      },
    ],
  };
}

/** Reads a herd bench result, or a vLLM one (as a single run). */
export async function loadResult(path: string): Promise<BenchResult> {
  const raw = JSON.parse(await readFile(path, "utf8")) as Record<string, unknown>;
  if (raw.tool === "herd bench" && Array.isArray(raw.runs)) return raw as unknown as BenchResult;
  if (typeof raw.request_throughput === "number") return fromVllm(raw, path);
  throw new Error(`${path}: not a herd bench or vllm bench serve result (no "runs" and no "request_throughput")`);
}

export async function saveResult(path: string, result: BenchResult): Promise<void> {
  await writeFile(path, `${JSON.stringify(result, null, 1)}\n`);
}
