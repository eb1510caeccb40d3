/**
 * The self-contained HTML report of one or more result files (no scripts, no external assets):
 *   1. what was run (label, model, endpoint, dataset, date) per result;
 *   2. a table of every run's headline metrics;
 *   3. latency–throughput curves across the sweep: TTFT and TPOT (median solid, p99 dashed) against
 *      output tokens/s, one colour per result, so two systems' curves share axes;
 *   4. distributions: the CDF of TTFT, TPOT, ITL and end-to-end latency for every run;
 *   5. output tokens/s over the course of each run.
 * @module
 */
import { loadLabel, type BenchResult, type RunRecord } from "../result.js";
import { cdfPoints, escapeXml as esc, lineChart, type Series } from "./svg.js";

const MAX_SERIES = 8;
const f = (x: number | undefined, d = 1) => (x === undefined ? "-" : x.toFixed(d));

function tpots(run: RunRecord): number[] {
  return run.e2els_ms.flatMap((e, i) => {
    const out = run.output_lens[i] ?? 0;
    return run.errors[i] === "" && out > 1 ? [(e - run.ttfts_ms[i]!) / (out - 1)] : [];
  });
}

const ok = (run: RunRecord, values: readonly number[]) => values.filter((_, i) => run.errors[i] === "");

function configTable(results: readonly BenchResult[]): string {
  const keys = [
    "base_url",
    "endpoint",
    "model",
    "dataset_name",
    "num_prompts",
    "random_input_len",
    "random_output_len",
    "seed",
    "burstiness",
    "ignore_eos",
  ];
  const head = results.map((r) => `<th>${esc(r.label)}</th>`).join("");
  const rows = keys.map((k) => `<tr><td>${k}</td>${results.map((r) => `<td>${esc(String(r.config[k] ?? "-"))}</td>`).join("")}</tr>`);
  rows.push(`<tr><td>date</td>${results.map((r) => `<td>${esc(r.date)}</td>`).join("")}</tr>`);
  rows.push(
    `<tr><td>metadata</td>${results
      .map(
        (r) =>
          `<td>${esc(
            Object.entries(r.metadata)
              .map(([k, v]) => `${k}=${v}`)
              .join(", ") || "-",
          )}</td>`,
      )
      .join("")}</tr>`,
  );
  return `<table><tr><th></th>${head}</tr>${rows.join("")}</table>`;
}

function summaryTable(results: readonly BenchResult[]): string {
  const cols = [
    "series",
    "load",
    "ok",
    "failed",
    "duration s",
    "req/s",
    "out tok/s",
    "total tok/s",
    "TTFT mean",
    "TTFT p50",
    "TTFT p90",
    "TTFT p99",
    "TPOT mean",
    "TPOT p99",
    "ITL mean",
    "ITL p99",
    "E2EL mean",
    "E2EL p99",
  ];
  const rows = results.flatMap((r) =>
    r.runs.map((run) => {
      const m = run.metrics;
      const cells = [
        r.label,
        loadLabel(run),
        String(m.completed),
        String(m.failed),
        f(m.duration, 2),
        f(m.request_throughput, 2),
        f(m.output_throughput),
        f(m.total_token_throughput),
        f(m.mean_ttft_ms),
        f(m.median_ttft_ms),
        f(m.p90_ttft_ms),
        f(m.p99_ttft_ms),
        f(m.mean_tpot_ms),
        f(m.p99_tpot_ms),
        f(m.mean_itl_ms),
        f(m.p99_itl_ms),
        f(m.mean_e2el_ms),
        f(m.p99_e2el_ms),
      ];
      return `<tr>${cells.map((c) => `<td>${esc(c)}</td>`).join("")}</tr>`;
    }),
  );
  return (
    `<table class="num"><tr>${cols.map((c) => `<th>${c}</th>`).join("")}</tr>${rows.join("")}</table>` +
    `<p class="note">Latencies in ms. TPOT excludes the first token; ITL pools every gap between streamed chunks.</p>`
  );
}

function curveChart(results: readonly BenchResult[], metric: "ttft" | "tpot", title: string): string {
  const series: Series[] = [];
  results.forEach((r, ci) => {
    const runs = r.runs; // traced in sweep order (rising load), as a latency–throughput curve is read
    const x = (run: RunRecord) => run.metrics.output_throughput ?? 0;
    const labels = runs.map(loadLabel);
    series.push({
      name: `${r.label} median`,
      colorIndex: ci,
      markers: true,
      pointLabels: labels,
      points: runs.map((run) => [x(run), run.metrics[`median_${metric}_ms`] ?? Number.NaN]),
    });
    series.push({
      name: `${r.label} p99`,
      colorIndex: ci,
      markers: true,
      dashed: true,
      points: runs.map((run) => [x(run), run.metrics[`p99_${metric}_ms`] ?? Number.NaN]),
    });
  });
  return lineChart({
    title,
    xLabel: "output throughput (tok/s)",
    yLabel: `${metric.toUpperCase()} (ms)`,
    series: series.slice(0, MAX_SERIES * 2),
  });
}

function runSeries(results: readonly BenchResult[], values: (run: RunRecord) => number[]): Series[] {
  const out: Series[] = [];
  let ci = 0;
  for (const r of results)
    for (const run of r.runs) {
      if (out.length >= MAX_SERIES) break;
      const name = results.length > 1 ? `${r.label} ${loadLabel(run)}` : loadLabel(run);
      out.push({ name, colorIndex: ci++, points: cdfPoints(values(run)) });
    }
  return out;
}

function timeline(results: readonly BenchResult[]): string {
  const series: Series[] = [];
  let ci = 0;
  for (const r of results)
    for (const run of r.runs) {
      if (series.length >= MAX_SERIES) break;
      const buckets = new Map<number, number>();
      run.ttfts_ms.forEach((ttft, i) => {
        if (run.errors[i] !== "") return;
        const itl = run.itls_ms[i] ?? [];
        const perChunk = (run.output_lens[i] ?? 0) / (itl.length + 1);
        let t = (run.start_times_ms[i] ?? 0) + ttft;
        for (let k = 0; k <= itl.length; k++) {
          if (k > 0) t += itl[k - 1]!;
          const b = Math.floor(t / 1000);
          buckets.set(b, (buckets.get(b) ?? 0) + perChunk);
        }
      });
      const last = Math.max(0, ...buckets.keys());
      const points: [number, number][] = Array.from({ length: last + 1 }, (_, s) => [s, buckets.get(s) ?? 0]);
      series.push({ name: results.length > 1 ? `${r.label} ${loadLabel(run)}` : loadLabel(run), colorIndex: ci++, points });
    }
  return lineChart({
    title: "Output tokens per second during the run",
    xLabel: "time since start (s)",
    yLabel: "output tok/s",
    series,
    step: true,
  });
}

export function renderReport(results: readonly BenchResult[]): string {
  const cdf = (title: string, unit: string, values: (run: RunRecord) => number[]) =>
    lineChart({
      title,
      xLabel: unit,
      yLabel: "fraction of requests ≤ x",
      series: runSeries(results, values),
      step: true,
      legend: "bottom-right",
    });
  const charts = [
    curveChart(results, "ttft", "TTFT vs throughput"),
    curveChart(results, "tpot", "TPOT vs throughput"),
    cdf("TTFT distribution", "TTFT (ms)", (run) => ok(run, run.ttfts_ms)),
    cdf("TPOT distribution", "TPOT (ms)", tpots),
    lineChart({
      title: "ITL distribution",
      xLabel: "ITL (ms)",
      yLabel: "fraction of gaps ≤ x",
      series: runSeries(results, (run) => run.itls_ms.flat()),
      step: true,
      legend: "bottom-right",
    }),
    cdf("End-to-end latency distribution", "E2EL (ms)", (run) => ok(run, run.e2els_ms)),
    timeline(results),
  ];
  const title = `herd bench: ${results.map((r) => r.label).join(" vs ")}`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)}</title>
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:24px;color:#111827;max-width:1240px}
h1{font-size:20px}h2{font-size:16px;margin-top:28px}
table{border-collapse:collapse;margin:8px 0;font-size:12px}td,th{border:1px solid #e5e7eb;padding:3px 7px;text-align:left}
table.num td:not(:first-child):not(:nth-child(2)){text-align:right;font-variant-numeric:tabular-nums}
.charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(520px,1fr));gap:16px}
.charts svg{width:100%;height:auto;border:1px solid #f3f4f6}.note{color:#6b7280;font-size:12px}
</style></head><body>
<h1>${esc(title)}</h1>
<h2>Setup</h2>${configTable(results)}
<h2>Results</h2>${summaryTable(results)}
<h2>Charts</h2><div class="charts">${charts.join("\n")}</div>
</body></html>
`;
}
