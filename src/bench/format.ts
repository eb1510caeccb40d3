/**
 * Text output of `herd bench`: vLLM's "Serving Benchmark Result" block for each run, a one-line-per-run
 * table for sweeps, and the `--compare` ratio table.
 * @module
 */
import { LATENCY_METRICS, type LatencyMetric } from "./metrics.js";
import { type BenchResult, loadLabel, type RunRecord } from "./result.js";

const TITLES: Record<LatencyMetric, [string, string]> = {
  ttft: ["Time to First Token", "TTFT"],
  tpot: ["Time per Output Token (excl. 1st token)", "TPOT"],
  itl: ["Inter-token Latency", "ITL"],
  e2el: ["End-to-end Latency", "E2EL"],
};

const num = (x: number | undefined, digits = 2) => (x === undefined || Number.isNaN(x) ? "-" : x.toFixed(digits));
const line = (label: string, value: string) => `${label.padEnd(40)}${value}`;
const rule = (title: string) => {
  const pad = Math.max(0, 50 - title.length);
  return `${"-".repeat(Math.floor(pad / 2))}${title}${"-".repeat(Math.ceil(pad / 2))}`;
};

/** The most common error messages of a run, with counts. */
function topErrors(run: RunRecord, max = 5): [string, number][] {
  const counts = new Map<string, number>();
  for (const e of run.errors) if (e) counts.set(e, (counts.get(e) ?? 0) + 1);
  return [...counts.entries()].sort((a, b) => b[1] - a[1]).slice(0, max);
}

/** vLLM's result block for one run. */
export function formatRun(run: RunRecord, percentiles: readonly number[]): string {
  const m = run.metrics;
  const out = ["============ Serving Benchmark Result ============"];
  out.push(line("Successful requests:", String(m.completed)));
  out.push(line("Failed requests:", String(m.failed)));
  out.push(line("Request rate configured (RPS):", run.request_rate === "inf" ? "inf" : num(run.request_rate)));
  if (run.max_concurrency !== null) out.push(line("Maximum request concurrency:", String(run.max_concurrency)));
  out.push(line("Benchmark duration (s):", num(m.duration)));
  out.push(line("Total input tokens:", String(m.total_input_tokens)));
  out.push(line("Total generated tokens:", String(m.total_output_tokens)));
  out.push(line("Request throughput (req/s):", num(m.request_throughput)));
  out.push(line("Output token throughput (tok/s):", num(m.output_throughput)));
  out.push(line("Peak output token throughput (tok/s):", num(m.max_output_tokens_per_s)));
  out.push(line("Peak concurrent requests:", String(m.max_concurrent_requests)));
  out.push(line("Total token throughput (tok/s):", num(m.total_token_throughput)));
  for (const name of LATENCY_METRICS) {
    const [title, short] = TITLES[name];
    out.push(rule(title));
    out.push(line(`Mean ${short} (ms):`, num(m[`mean_${name}_ms`])));
    out.push(line(`Median ${short} (ms):`, num(m[`median_${name}_ms`])));
    for (const p of percentiles) if (p !== 50) out.push(line(`P${p} ${short} (ms):`, num(m[`p${p}_${name}_ms`])));
  }
  out.push("=".repeat(50));
  for (const [msg, n] of topErrors(run)) out.push(`error ×${n}: ${msg}`);
  return out.join("\n");
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ")).join("\n");
}

/** One line per run of a sweep. */
export function formatSweep(runs: readonly RunRecord[]): string {
  const rows = [["load", "ok", "failed", "req/s", "out tok/s", "TTFT mean", "TTFT p99", "TPOT mean", "TPOT p99", "ITL mean", "E2EL mean"]];
  for (const r of runs) {
    const m = r.metrics;
    rows.push([
      loadLabel(r),
      String(m.completed),
      String(m.failed),
      num(m.request_throughput),
      num(m.output_throughput, 1),
      num(m.mean_ttft_ms, 1),
      num(m.p99_ttft_ms, 1),
      num(m.mean_tpot_ms, 1),
      num(m.p99_tpot_ms, 1),
      num(m.mean_itl_ms, 1),
      num(m.mean_e2el_ms, 1),
    ]);
  }
  return table(rows);
}

/** Metrics shown by `--compare`, and whether higher is better. */
const COMPARED: readonly [string, boolean][] = [
  ["request_throughput", true],
  ["output_throughput", true],
  ["total_token_throughput", true],
  ...LATENCY_METRICS.flatMap((n): [string, boolean][] => [
    [`mean_${n}_ms`, false],
    [`median_${n}_ms`, false],
    [`p99_${n}_ms`, false],
  ]),
  ["failed", false],
];

/** Pairs runs by load point (request rate and concurrency); unmatched runs pair by position. */
function pairRuns(a: BenchResult, b: BenchResult): [RunRecord, RunRecord][] {
  const key = (r: RunRecord) => `${r.request_rate}|${r.max_concurrency}`;
  const byKey = new Map(b.runs.map((r) => [key(r), r]));
  const pairs = a.runs.flatMap((r): [RunRecord, RunRecord][] => (byKey.has(key(r)) ? [[r, byKey.get(key(r))!]] : []));
  if (pairs.length > 0) return pairs;
  return a.runs.slice(0, b.runs.length).map((r, i) => [r, b.runs[i]!]);
}

/** The `--compare A B` table: each metric for A and B, and B/A (✓ where B is better). */
export function formatCompare(a: BenchResult, b: BenchResult): string {
  const pairs = pairRuns(a, b);
  if (pairs.length === 0) return "no runs to compare";
  const blocks: string[] = [];
  for (const [ra, rb] of pairs) {
    const rows = [[`${loadLabel(ra)} vs ${loadLabel(rb)}`, `A: ${a.label}`, `B: ${b.label}`, "B/A", ""]];
    for (const [key, higherIsBetter] of COMPARED) {
      const va = ra.metrics[key];
      const vb = rb.metrics[key];
      if (va === undefined && vb === undefined) continue;
      const ratio = va !== undefined && vb !== undefined && va !== 0 ? vb / va : Number.NaN;
      const better = Number.isNaN(ratio) || ratio === 1 ? "" : ratio > 1 === higherIsBetter ? "✓" : "";
      rows.push([key, num(va), num(vb), Number.isNaN(ratio) ? "-" : `${ratio.toFixed(3)}×`, better]);
    }
    blocks.push(table(rows));
  }
  return blocks.join("\n\n");
}
