/**
 * Unit tests of the benchmark's pure parts: SSE framing, metrics (vLLM's formulas, numpy's
 * percentiles), datasets, arrivals, PNG encoding, result loading, the compare table and chart ticks.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { inflateSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { arrivalTimesMs, buildInput, type TargetOptions } from "./benchmark.js";
import { lengthRange, makeDataset, type DatasetOptions } from "./datasets/index.js";
import { encodePng, imageDataUrl } from "./datasets/png.js";
import { Rng } from "./datasets/rng.js";
import { formatCompare, formatRun } from "./format.js";
import { calculateMetrics, percentile } from "./metrics.js";
import { renderReport } from "./report/html.js";
import { niceTicks } from "./report/svg.js";
import { buildRequestBody } from "./request-runner.js";
import { type BenchResult, loadResult } from "./result.js";
import type { RequestOutput } from "./types.js";

const output = (o: Partial<RequestOutput>): RequestOutput => ({
  success: true,
  generatedText: "x",
  numPromptTokens: 10,
  numOutputTokens: 5,
  hasUsage: true,
  ttftMs: 100,
  itlMs: [10, 10, 10, 10],
  latencyMs: 140,
  startMs: 0,
  status: 200,
  error: "",
  ...o,
});

const OPTS: DatasetOptions = {
  numPrompts: 10,
  seed: 1,
  randomInputLen: 20,
  randomOutputLen: 8,
  randomRangeRatio: 0,
  randomPrefixLen: 0,
  prefixLen: 30,
  suffixLen: 5,
  numPrefixes: 2,
  prefixOutputLen: 4,
  numTurns: 3,
  mmBaseItemsPerRequest: 3,
  mmNumItemsRangeRatio: 0.6,
  imageWidth: 8,
  imageHeight: 4,
};

describe("metrics", () => {
  it("percentiles interpolate linearly like numpy", () => {
    expect(percentile([1, 2, 3, 4], 50)).toBe(2.5);
    expect(percentile([1, 2, 3, 4], 99)).toBeCloseTo(3.97, 10);
    expect(percentile([], 99)).toBe(0);
  });

  it("computes vLLM's throughput and latency metrics; failures count only as failed", () => {
    const outs = [
      output({}),
      output({ startMs: 500, ttftMs: 200, latencyMs: 400, numOutputTokens: 3, itlMs: [100, 100] }),
      output({ success: false, error: "HTTP 500", numOutputTokens: 0, itlMs: [] }),
    ];
    const m = calculateMetrics(outs, 2000);
    expect(m).toMatchObject({ completed: 2, failed: 1, total_input_tokens: 20, total_output_tokens: 8, duration: 2 });
    expect(m.request_throughput).toBe(1);
    expect(m.output_throughput).toBe(4);
    expect(m.total_token_throughput).toBe(14);
    expect(m.mean_ttft_ms).toBe(150);
    expect(m.mean_tpot_ms).toBe((10 + 100) / 2); // (140-100)/4 and (400-200)/2
    expect(m.mean_itl_ms).toBe((40 + 200) / 6);
    expect(m.p99_e2el_ms).toBeCloseTo(140 + 0.99 * 260, 10);
    expect(m.max_concurrent_requests).toBe(2);
  });
});

describe("datasets", () => {
  it("are reproducible from the seed and honour lengths", () => {
    const a = makeDataset("random", OPTS);
    expect(makeDataset("random", OPTS)).toEqual(a);
    expect(makeDataset("random", { ...OPTS, seed: 2 })).not.toEqual(a);
    expect(a).toHaveLength(10);
    for (const c of a) expect(c.turns[0]!.prompt.trim().split(" ")).toHaveLength(20);
    expect(lengthRange(3, 0.6)).toEqual([1, 5]);
    expect(lengthRange(100, 0.5)).toEqual([50, 150]);
  });

  it("prefix: shared system prompts, distinct questions; multiturn: turns add up to num-prompts", () => {
    const p = makeDataset("prefix", OPTS);
    expect(new Set(p.map((c) => c.turns[0]!.system)).size).toBe(2);
    expect(new Set(p.map((c) => c.turns[0]!.prompt)).size).toBe(10);
    const m = makeDataset("multiturn", OPTS);
    expect(m.map((c) => c.turns.length)).toEqual([3, 3, 3, 1]);
  });

  it("prefix_repetition: vLLM's layout, prefix + suffix in one prompt, an equal share per distinct prefix, shuffled", () => {
    const o = { ...OPTS, numPrompts: 12, numPrefixes: 3, prefixLen: 40, suffixLen: 6 };
    const p = makeDataset("prefix_repetition", o);
    expect(makeDataset("prefix_repetition", o)).toEqual(p);
    expect(p).toHaveLength(12);
    const byPrefix = new Map<string, number>();
    for (const c of p) {
      const t = c.turns[0]!;
      expect(t.system).toBeUndefined();
      const words = t.prompt.trim().split(" ");
      expect(words).toHaveLength(46);
      expect(t).toMatchObject({ numPromptTokens: 46, numOutputTokens: 4 });
      const prefix = words.slice(0, 40).join(" ");
      byPrefix.set(prefix, (byPrefix.get(prefix) ?? 0) + 1);
    }
    expect([...byPrefix.values()]).toEqual([4, 4, 4]);
    expect(new Set(p.map((c) => c.turns[0]!.prompt)).size).toBe(12);
    // shuffled: generation order cycles through the prefixes (0,1,2,0,1,2,…); the output doesn't
    const order = p.map((c) => [...byPrefix.keys()].indexOf(c.turns[0]!.prompt.trim().split(" ").slice(0, 40).join(" ")));
    expect(order.some((k, i) => i >= 3 && k !== order[i - 3])).toBe(true);
  });

  it("image: 1–5 images per request, rendered as decodable PNG data URLs", () => {
    const counts = makeDataset("image", { ...OPTS, numPrompts: 200 }).map((c) => c.turns[0]!.images!.length);
    expect(Math.min(...counts)).toBe(1);
    expect(Math.max(...counts)).toBe(5);
    const png = encodePng(2, 1, Uint8Array.from([255, 0, 0, 0, 0, 255]));
    expect(png.subarray(0, 8).toString("latin1")).toBe("\x89PNG\r\n\x1a\n");
    const idat = png.indexOf("IDAT");
    const len = png.readUInt32BE(idat - 4);
    expect([...inflateSync(png.subarray(idat + 4, idat + 4 + len))]).toEqual([0, 255, 0, 0, 0, 0, 255]);
    expect(imageDataUrl({ width: 8, height: 4, seed: 1 })).toMatch(/^data:image\/png;base64,iVBORw0KGgo/);
  });
});

describe("load", () => {
  it("arrivals: all at 0 for an infinite rate; gamma gaps with mean 1/rate otherwise", () => {
    expect(arrivalTimesMs(3, Number.POSITIVE_INFINITY, 1, 0)).toEqual([0, 0, 0]);
    const t = arrivalTimesMs(4001, 10, 1, 0);
    expect(t[4000]! / 4000).toBeGreaterThan(95);
    expect(t[4000]! / 4000).toBeLessThan(105);
    const even = arrivalTimesMs(4001, 10, 50, 0);
    const gaps = even.slice(1).map((x, i) => x - even[i]!);
    expect(Math.max(...gaps)).toBeLessThan(250); // burstiness 50: nearly uniform gaps
    const r = new Rng(5);
    expect(Array.from({ length: 5 }, () => r.int(1, 3)).every((x) => x >= 1 && x <= 3)).toBe(true);
  });

  it("builds completions prompts and chat messages (system, history, images) with usage requested", () => {
    const target: TargetOptions = {
      baseUrl: "http://127.0.0.1:1/",
      endpoint: "/v1/chat/completions",
      kind: "chat",
      model: "m",
      ignoreEos: true,
      extraBody: { temperature: 0 },
      timeoutMs: 1000,
    };
    const turn = { prompt: "q", system: "s", images: [{ width: 2, height: 2, seed: 1 }], numPromptTokens: 1, numOutputTokens: 3 };
    const input = buildInput(
      target,
      turn,
      [
        { role: "user", content: "hi" },
        { role: "assistant", content: "yo" },
      ],
      "id",
    );
    expect(input.apiUrl).toBe("http://127.0.0.1:1/v1/chat/completions");
    const body = buildRequestBody("chat", input) as { messages: { role: string; content: unknown }[] };
    expect(body).toMatchObject({
      model: "m",
      max_tokens: 3,
      stream: true,
      stream_options: { include_usage: true },
      ignore_eos: true,
      temperature: 0,
    });
    expect(body.messages.map((m) => m.role)).toEqual(["system", "user", "assistant", "user"]);
    expect(body.messages[3]!.content).toEqual([
      { type: "image_url", image_url: { url: expect.stringMatching(/^data:image\/png;base64,/) } },
      { type: "text", text: "q" },
    ]);
    const completions = buildInput({ ...target, kind: "completions" }, { ...turn, images: [] }, [], "id");
    expect(buildRequestBody("completions", completions)).toMatchObject({ prompt: "s\n\nq" });
    expect(() => buildInput({ ...target, kind: "completions" }, turn, [], "id")).toThrow(/chat endpoint/);
  });
});

describe("results, compare, report", () => {
  const run = (rps: number) => ({
    request_rate: "inf" as const,
    max_concurrency: 8,
    burstiness: 1,
    started_at: "",
    metrics: { ...calculateMetrics([output({})], 1000), request_throughput: rps },
    start_times_ms: [0],
    input_lens: [10],
    output_lens: [5],
    ttfts_ms: [100],
    e2els_ms: [140],
    itls_ms: [[10, 10, 10, 10]],
    errors: [""],
  });
  const result = (label: string, rps: number): BenchResult => ({
    tool: "herd bench",
    version: "0",
    date: "",
    label,
    config: {},
    metadata: {},
    runs: [run(rps)],
  });

  it("--compare prints B/A and marks where B is better", () => {
    const text = formatCompare(result("herd", 2), result("llama-server", 1));
    expect(text).toMatch(/^c8 vs c8\s+A: herd\s+B: llama-server\s+B\/A/);
    expect(text).toMatch(/request_throughput\s+2\.00\s+1\.00\s+0\.500×\s*$/m);
    expect(text).toMatch(/mean_ttft_ms\s+100\.00\s+100\.00\s+1\.000×/);
  });

  it("loads vLLM's own result files as one run", async () => {
    const dir = await mkdtemp(join(tmpdir(), "bench-unit-"));
    try {
      const path = join(dir, "vllm.json");
      await writeFile(
        path,
        JSON.stringify({
          backend: "vllm",
          model_id: "m",
          request_rate: "inf",
          max_concurrency: 8,
          request_throughput: 3,
          mean_ttft_ms: 12,
          ttfts: [0.012],
          itls: [[0.001]],
        }),
      );
      const r = await loadResult(path);
      expect(r.runs[0]).toMatchObject({ request_rate: "inf", max_concurrency: 8, ttfts_ms: [12], itls_ms: [[1]] });
      expect(r.runs[0]!.metrics).toMatchObject({ request_throughput: 3, mean_ttft_ms: 12 });
      await writeFile(path, "{}");
      await expect(loadResult(path)).rejects.toThrow(/not a herd bench or vllm bench serve result/);
    } finally {
      await rm(dir, { recursive: true });
    }
  });

  it("prints vLLM's result block and renders a report without scripts", () => {
    const block = formatRun(run(2), [50, 90, 99]);
    expect(block).toMatch(/^============ Serving Benchmark Result ============\nSuccessful requests:\s+1\n/);
    expect(block).toMatch(/P90 ITL \(ms\):\s+10\.00/);
    const html = renderReport([result("a <b>", 1)]);
    expect(html).toContain("a &#60;b&#62;");
    expect(html).not.toContain("<script");
    expect(niceTicks(0, 1338)).toEqual([0, 500, 1000, 1500]);
    expect(niceTicks(0, 23.2)).toEqual([0, 5, 10, 15, 20, 25]);
  });
});
