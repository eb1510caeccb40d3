/**
 * Run metrics, computed the way vLLM's `calculate_metrics` does (`vllm/benchmarks/serve.py`) and named
 * as in its result JSON, so results from both tools line up:
 * - throughput: `request_throughput` (completed / duration), `output_throughput` and
 *   `total_token_throughput` (input + output) in tokens/s over the run's wall time;
 * - per-request latencies in ms: TTFT, TPOT = (latency − TTFT) / (output tokens − 1) for requests with
 *   more than one output token, ITL (every gap, pooled), E2EL; each as mean, median, std and the
 *   chosen percentiles (`p90_ttft_ms`, …);
 * - failed requests count in `failed` and contribute no latency and no tokens.
 * @module
 */
import type { RequestOutput } from "./types.js";

export const LATENCY_METRICS = ["ttft", "tpot", "itl", "e2el"] as const;
export type LatencyMetric = (typeof LATENCY_METRICS)[number];

export const DEFAULT_PERCENTILES: readonly number[] = [50, 90, 99];

/** Flat, vLLM-named metrics: `completed`, `request_throughput`, `mean_ttft_ms`, `p99_itl_ms`, … */
export type BenchmarkMetrics = Record<string, number>;

/** numpy's default percentile (linear interpolation between closest ranks); 0 for no data. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  const rank = (p / 100) * (sorted.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (rank - lo);
}

function summarize(into: BenchmarkMetrics, name: LatencyMetric, values: number[], percentiles: readonly number[]): void {
  const sorted = [...values].sort((a, b) => a - b);
  const n = sorted.length;
  const mean = n === 0 ? 0 : sorted.reduce((a, b) => a + b, 0) / n;
  const variance = n === 0 ? 0 : sorted.reduce((a, b) => a + (b - mean) ** 2, 0) / n;
  into[`mean_${name}_ms`] = mean;
  into[`median_${name}_ms`] = percentile(sorted, 50);
  into[`std_${name}_ms`] = Math.sqrt(variance);
  for (const p of percentiles) into[`p${p}_${name}_ms`] = percentile(sorted, p);
}

/** The per-request samples each latency metric is computed from. */
function latencySamples(outputs: readonly RequestOutput[]): Record<LatencyMetric, number[]> {
  const s: Record<LatencyMetric, number[]> = { ttft: [], tpot: [], itl: [], e2el: [] };
  for (const o of outputs) {
    if (!o.success) continue;
    s.ttft.push(o.ttftMs);
    s.e2el.push(o.latencyMs);
    if (o.numOutputTokens > 1) s.tpot.push((o.latencyMs - o.ttftMs) / (o.numOutputTokens - 1));
    for (const x of o.itlMs) s.itl.push(x);
  }
  return s;
}

/**
 * Peak output tokens/s over 1-second buckets and the most requests in flight at once (vLLM reports
 * both). A chunk's tokens are spread evenly over the request's text chunks.
 */
function peaks(outputs: readonly RequestOutput[]): { maxOutputTokensPerS: number; maxConcurrentRequests: number } {
  const buckets = new Map<number, number>();
  const events: [number, number][] = [];
  for (const o of outputs) {
    events.push([o.startMs, 1], [o.startMs + o.latencyMs, -1]);
    if (!o.success) continue;
    const perChunk = o.numOutputTokens / (o.itlMs.length + 1);
    let t = o.startMs + o.ttftMs;
    for (let i = 0; i <= o.itlMs.length; i++) {
      if (i > 0) t += o.itlMs[i - 1]!;
      const b = Math.floor(t / 1000);
      buckets.set(b, (buckets.get(b) ?? 0) + perChunk);
    }
  }
  events.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let inFlight = 0;
  let maxConcurrentRequests = 0;
  for (const [, d] of events) maxConcurrentRequests = Math.max(maxConcurrentRequests, (inFlight += d));
  return { maxOutputTokensPerS: Math.max(0, ...buckets.values()), maxConcurrentRequests };
}

export function calculateMetrics(
  outputs: readonly RequestOutput[],
  durationMs: number,
  percentiles: readonly number[] = DEFAULT_PERCENTILES,
): BenchmarkMetrics {
  const ok = outputs.filter((o) => o.success);
  const totalInput = ok.reduce((a, o) => a + o.numPromptTokens, 0);
  const totalOutput = ok.reduce((a, o) => a + o.numOutputTokens, 0);
  const durationS = durationMs / 1000;
  const { maxOutputTokensPerS, maxConcurrentRequests } = peaks(outputs);
  const m: BenchmarkMetrics = {
    duration: durationS,
    completed: ok.length,
    failed: outputs.length - ok.length,
    total_input_tokens: totalInput,
    total_output_tokens: totalOutput,
    request_throughput: durationS > 0 ? ok.length / durationS : 0,
    output_throughput: durationS > 0 ? totalOutput / durationS : 0,
    total_token_throughput: durationS > 0 ? (totalInput + totalOutput) / durationS : 0,
    max_output_tokens_per_s: maxOutputTokensPerS,
    max_concurrent_requests: maxConcurrentRequests,
  };
  const samples = latencySamples(outputs);
  for (const name of LATENCY_METRICS) summarize(m, name, samples[name], percentiles);
  return m;
}
