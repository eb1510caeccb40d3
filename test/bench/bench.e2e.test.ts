/**
 * `herd bench` end to end: the real CLI (a child process) against a real `herd serve` on the embedded
 * random-weight Llama 4. Every workload, the closed and the open loop, a sweep, the saved JSON and
 * HTML, `--compare`, and the server's own counters agreeing with the benchmark's.
 */
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { arrivalTimesMs } from "../../src/bench/benchmark.js";
import type { BenchResult } from "../../src/bench/result.js";
import { getMetric, type HerdServer, REPO_ROOT, startHerd } from "../e2e/helpers/herd-server.js";

const run = promisify(execFile);

describe("herd bench against herd serve (embedded Llama 4)", () => {
  let server: HerdServer;
  let dir: string;

  /** Runs `herd bench` with the server's URL and small default lengths; returns stdout and the saved result. */
  async function bench(args: string[], name: string): Promise<{ stdout: string; result: BenchResult; html: string }> {
    const base = [
      "--base-url",
      server.url,
      "--random-input-len",
      "16",
      "--random-output-len",
      "6",
      "--ignore-eos",
      "--seed",
      "3",
      "--save-result",
      "--result-dir",
      dir,
      "--result-filename",
      `${name}.json`,
    ];
    const { stdout } = await run(process.execPath, ["--import", "tsx", "src/cli/main.ts", "bench", ...base, ...args], {
      cwd: REPO_ROOT,
      timeout: 120_000,
    });
    const result = JSON.parse(await readFile(join(dir, `${name}.json`), "utf8")) as BenchResult;
    return { stdout, result, html: await readFile(join(dir, `${name}.html`), "utf8") };
  }

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "herd-bench-"));
    server = await startHerd([]);
  });
  afterAll(async () => {
    await server?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("closed loop (random, /v1/completions): vLLM's metrics, exact token counts, the server agrees", async () => {
    const before = (await getMetric(server, "vllm:generation_tokens_total")) ?? 0;
    const { stdout, result, html } = await bench(
      ["--num-prompts", "8", "--max-concurrency", "4", "--num-warmups", "2", "--label", "herd"],
      "closed",
    );
    expect(stdout).toContain("============ Serving Benchmark Result ============");
    expect(stdout).toMatch(/Maximum request concurrency:\s+4/);
    expect(stdout).toMatch(/Mean TTFT \(ms\):\s+[\d.]+/);
    expect(result.runs).toHaveLength(1);
    const run0 = result.runs[0]!;
    const m = run0.metrics;
    expect(m).toMatchObject({ completed: 8, failed: 0, total_output_tokens: 48, max_concurrent_requests: 4 });
    expect(run0.output_lens).toEqual(new Array(8).fill(6));
    // Prompt tokens are the server's own count: 16 words ≈ 16 tokens, plus BOS.
    for (const n of run0.input_lens) expect(n).toBeGreaterThanOrEqual(16);
    expect(m.total_input_tokens).toBe(run0.input_lens.reduce((a, b) => a + b, 0));
    for (const key of ["ttft", "tpot", "itl", "e2el"]) {
      for (const stat of ["mean", "median", "std", "p50", "p90", "p99"])
        expect(m[`${stat}_${key}_ms`], `${stat}_${key}_ms`).toBeGreaterThan(0);
    }
    expect(m.p99_ttft_ms).toBeGreaterThanOrEqual(m.median_ttft_ms!);
    expect(m.mean_e2el_ms).toBeGreaterThan(m.mean_ttft_ms!);
    expect(m.output_throughput).toBeCloseTo(48 / m.duration!, 6);
    expect(run0.itls_ms.every((l) => l.length >= 1 && l.length <= 5)).toBe(true);
    // The server generated what the benchmark counted: 8 runs + 2 warmups + 1 test request, 6 tokens each.
    expect(((await getMetric(server, "vllm:generation_tokens_total")) ?? 0) - before).toBe((8 + 2 + 1) * 6);
    expect(result).toMatchObject({
      tool: "herd bench",
      label: "herd",
      config: { dataset_name: "random", endpoint: "/v1/completions", model: "herd-llama4-random" },
    });
    expect(html).toMatch(/^<!doctype html>/);
    expect(html.match(/<svg /g)?.length).toBe(7);
    expect(html).not.toMatch(/<script|https?:\/\/(?!www\.w3\.org|127\.0\.0\.1)/);
  });

  it("--extra-body is merged into every request (after the benchmark's own fields); bad JSON is refused", async () => {
    const { result } = await bench(
      ["--num-prompts", "3", "--max-concurrency", "3", "--extra-body", '{"max_tokens": 3, "logit_bias": {"1": -100}}'],
      "extra-body",
    );
    expect(result.runs[0]!.output_lens).toEqual([3, 3, 3]);
    await expect(
      run(process.execPath, ["--import", "tsx", "src/cli/main.ts", "bench", "--base-url", server.url, "--extra-body", "[1]"], {
        cwd: REPO_ROOT,
      }),
    ).rejects.toMatchObject({
      stderr: expect.stringMatching(/--extra-body.*must be a JSON object/),
    });
  });

  it("open loop: Poisson arrivals at --request-rate follow the seeded schedule; a sweep runs every point", async () => {
    const { stdout, result } = await bench(["--num-prompts", "6", "--request-rate", "8,inf", "--max-concurrency", "2"], "sweep");
    expect(result.runs.map((r) => [r.request_rate, r.max_concurrency])).toEqual([
      [8, 2],
      ["inf", 2],
    ]);
    expect(stdout).toMatch(/Sweep \(herd-llama4-random @ 127\.0\.0\.1:\d+\):\n\s*load/);
    const arrivals = arrivalTimesMs(6, 8, 1, 3);
    const starts = [...result.runs[0]!.start_times_ms].sort((a, b) => a - b);
    // Nobody is sent before its arrival time (a full concurrency slot can only delay it).
    arrivals.forEach((t, i) => expect(starts[i]!).toBeGreaterThanOrEqual(t - 5));
    expect(arrivals[5]!).toBeGreaterThan(100); // the gaps are real: 5 gaps with a 125 ms mean
    for (const r of result.runs) expect(r.metrics).toMatchObject({ completed: 6, failed: 0 });
  });

  it("shared-prefix (chat, system prompt), multi-turn (history grows) and image workloads", async () => {
    const prefix = await bench(
      [
        "--dataset-name",
        "prefix",
        "--num-prompts",
        "6",
        "--prefix-repetition-prefix-len",
        "48",
        "--prefix-repetition-suffix-len",
        "8",
        "--prefix-repetition-num-prefixes",
        "2",
        "--prefix-repetition-output-len",
        "4",
        "--endpoint",
        "/v1/chat/completions",
        "--max-concurrency",
        "2",
      ],
      "prefix",
    );
    expect(prefix.result.runs[0]!.metrics).toMatchObject({ completed: 6, failed: 0, total_output_tokens: 24 });
    expect(prefix.result.runs[0]!.input_lens.every((n) => n > 48)).toBe(true);

    const multi = await bench(
      ["--dataset-name", "multiturn", "--num-prompts", "6", "--multiturn-num-turns", "3", "--max-concurrency", "2"],
      "multiturn",
    );
    const mr = multi.result.runs[0]!;
    expect(mr.metrics).toMatchObject({ completed: 6, failed: 0 });
    expect(multi.result.config.endpoint).toBe("/v1/chat/completions");
    // Two conversations of three turns: each later turn carries the earlier ones, so prompts grow.
    const sorted = [...mr.input_lens].sort((a, b) => a - b);
    expect(sorted[5]!).toBeGreaterThan(sorted[0]! + 2 * 16);

    // Images go out as PNG data URLs in chat messages. A server (or model) without image input
    // answers 4xx: the initial test request then stops the run with the server's message.
    const image = await run(
      process.execPath,
      [
        "--import",
        "tsx",
        "src/cli/main.ts",
        "bench",
        "--base-url",
        server.url,
        "--dataset-name",
        "image",
        "--num-prompts",
        "2",
        "--random-input-len",
        "8",
        "--random-output-len",
        "4",
        "--image-size",
        "64x48",
        "--save-result",
        "--result-dir",
        dir,
        "--result-filename",
        "image.json",
      ],
      { cwd: REPO_ROOT, timeout: 60_000 },
    ).then(
      () => null,
      (err: { stderr: string }) => err,
    );
    if (image === null) {
      const r = JSON.parse(await readFile(join(dir, "image.json"), "utf8")) as BenchResult;
      expect(r.runs[0]!.metrics).toMatchObject({ completed: 2, failed: 0 });
    } else {
      expect(image.stderr).toMatch(/initial test request failed: HTTP 4\d\d: .*image/i);
    }
  });

  it("--compare prints B/A per metric for matching load points", async () => {
    const { stdout } = await run(
      process.execPath,
      [
        "--import",
        "tsx",
        "src/cli/main.ts",
        "bench",
        "--compare",
        join(dir, "closed.json"),
        join(dir, "sweep.json"),
        "--report-filename",
        join(dir, "cmp.html"),
      ],
      { cwd: REPO_ROOT, timeout: 60_000 },
    );
    const closed = JSON.parse(await readFile(join(dir, "closed.json"), "utf8")) as BenchResult;
    const sweep = JSON.parse(await readFile(join(dir, "sweep.json"), "utf8")) as BenchResult;
    // No load point in common (c4 vs rate 8/s c2, c2): paired by position.
    expect(stdout).toMatch(/c4 vs rate 8\/s c2\s+A: herd\s+B: herd-llama4-random @ 127\.0\.0\.1:\d+\s+B\/A/);
    const ratio = sweep.runs[0]!.metrics.request_throughput! / closed.runs[0]!.metrics.request_throughput!;
    expect(stdout).toMatch(new RegExp(`request_throughput\\s+[\\d.]+\\s+[\\d.]+\\s+${ratio.toFixed(3).replace(".", "\\.")}×`));
    expect(stdout).toMatch(/p99_itl_ms/);
    const html = await readFile(join(dir, "cmp.html"), "utf8");
    expect(html).toContain("herd bench: herd vs herd-llama4-random");
  });
});
