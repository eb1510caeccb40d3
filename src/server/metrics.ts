/**
 * Prometheus metrics under vLLM's names and labels, so dashboards built for vLLM work unchanged.
 * Every metric carries `model_name`. Gauges are read from the engine at scrape time; counters and
 * histograms are fed by the server as outputs stream through it (so they survive an engine restart).
 *
 * Counters are exposed with their `_total` suffix, as vLLM's Python client exposes them
 * (`vllm:prompt_tokens_total`, `vllm:prefix_cache_queries_total`, …).
 *
 * Units follow vLLM: token counters count tokens (prefix-cache queries/hits too), latencies are
 * seconds. Histogram buckets are vLLM's, with finer buckets below 10 ms added where a small CPU
 * model lives (extra buckets do not break existing quantile queries).
 *
 * The Gateway API Inference Extension's endpoint picker (GIE's model-server protocol) reads
 * `vllm:num_requests_waiting`, `vllm:num_requests_running`, `vllm:kv_cache_usage_perc`,
 * `vllm:lora_requests_info` (herd serves no adapters: `max_lora="0"`) and `vllm:cache_config_info`
 * (`block_size`, `num_gpu_blocks`: herd's KV cells over its `--block-size`, the blocks KV-cache events report).
 * @module
 */
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import type { EngineStats, FinishReason, RequestOutput } from "../engine/types.js";

const TTFT_BUCKETS = [0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 20, 40, 80, 160, 640, 2560];
const ITL_BUCKETS = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 20, 40, 80,
];
const REQUEST_BUCKETS = [
  0.001, 0.01, 0.05, 0.1, 0.3, 0.5, 0.8, 1, 1.5, 2, 2.5, 5, 10, 15, 20, 30, 40, 50, 60, 120, 240, 480, 960, 1920, 7680,
];

type L = "model_name";

export class ServerMetrics {
  readonly registry = new Registry();
  readonly #labels: { model_name: string };

  readonly #running: Gauge<L>;
  readonly #waiting: Gauge<L>;
  readonly #kvUsage: Gauge<L>;
  readonly #kvCached: Gauge<L>;
  readonly #engineReady: Gauge<L>;
  readonly #cacheConfig: Gauge<string>;
  readonly #blockSize: number;
  readonly #enablePrefixCaching: boolean;
  readonly #prefixQueries: Counter<L>;
  readonly #prefixHits: Counter<L>;
  readonly #promptTokens: Counter<L>;
  readonly #generationTokens: Counter<L>;
  readonly #success: Counter<L | "finished_reason">;
  readonly #engineRestarts: Counter<L>;
  readonly ttft: Histogram<L>;
  readonly itl: Histogram<L>;
  readonly e2e: Histogram<L>;
  readonly queueTime: Histogram<L>;

  /** `blockSize` and `enablePrefixCaching` are reported in `vllm:cache_config_info` (vLLM's defaults 16, true). */
  constructor(modelName: string, opts: { blockSize?: number; enablePrefixCaching?: boolean } = {}) {
    this.#labels = { model_name: modelName };
    this.#blockSize = opts.blockSize ?? 16;
    this.#enablePrefixCaching = opts.enablePrefixCaching ?? true;
    const registers = [this.registry];
    const labelNames = ["model_name"] as const;
    const gauge = (name: string, help: string) => new Gauge<L>({ name, help, labelNames, registers });
    const counter = (name: string, help: string) => new Counter<L>({ name, help, labelNames, registers });
    const histogram = (name: string, help: string, buckets: number[]) => new Histogram<L>({ name, help, labelNames, buckets, registers });

    this.#running = gauge("vllm:num_requests_running", "Number of requests in model execution batches.");
    this.#waiting = gauge("vllm:num_requests_waiting", "Number of requests waiting to be processed.");
    this.#kvUsage = gauge("vllm:kv_cache_usage_perc", "KV-cache usage. 1 means 100 percent usage.");
    this.#kvCached = gauge(
      "herd:kv_cache_cached_perc",
      "Share of the KV cache held only by cached prefixes of finished requests (part of vllm:kv_cache_usage_perc).",
    );
    this.#engineReady = gauge("herd:engine_ready", "1 when the engine is loaded, warmed up and accepting requests.");
    this.#prefixQueries = counter("vllm:prefix_cache_queries_total", "Prefix cache queries, in terms of number of queried tokens.");
    this.#prefixHits = counter("vllm:prefix_cache_hits_total", "Prefix cache hits, in terms of number of cached tokens.");
    this.#promptTokens = counter("vllm:prompt_tokens_total", "Number of prefill tokens processed.");
    this.#generationTokens = counter("vllm:generation_tokens_total", "Number of generation tokens processed.");
    this.#success = new Counter({
      name: "vllm:request_success_total",
      help: "Count of successfully processed requests (one per completion choice).",
      labelNames: ["model_name", "finished_reason"] as const,
      registers,
    });
    // Info gauges (value 1, or vLLM's timestamp for LoRA) carry their data in labels, as vLLM's do.
    this.#cacheConfig = new Gauge({
      name: "vllm:cache_config_info",
      help: "Information of the LLMEngine CacheConfig.",
      labelNames: ["model_name", "block_size", "num_gpu_blocks", "enable_prefix_caching", "cache_dtype"],
      registers,
    });
    new Gauge({
      name: "vllm:lora_requests_info",
      help: "Running stats on lora requests.",
      labelNames: ["model_name", "max_lora", "running_lora_adapters", "waiting_lora_adapters"] as const,
      registers,
    }).set({ ...this.#labels, max_lora: "0", running_lora_adapters: "", waiting_lora_adapters: "" }, Date.now() / 1000);
    this.#engineRestarts = counter("herd:engine_restarts_total", "Times the engine process was restarted after it died.");
    this.ttft = histogram("vllm:time_to_first_token_seconds", "Histogram of time to first token in seconds.", TTFT_BUCKETS);
    this.itl = histogram("vllm:inter_token_latency_seconds", "Histogram of inter-token latency in seconds.", ITL_BUCKETS);
    this.e2e = histogram("vllm:e2e_request_latency_seconds", "Histogram of e2e request latency in seconds.", REQUEST_BUCKETS);
    this.queueTime = histogram("vllm:request_queue_time_seconds", "Histogram of time spent in WAITING phase for request.", REQUEST_BUCKETS);

    // Start every labelled series at 0 so dashboards see them before the first request.
    for (const m of [this.#prefixQueries, this.#prefixHits, this.#promptTokens, this.#generationTokens, this.#engineRestarts])
      m.inc(this.#labels, 0);
    for (const h of [this.ttft, this.itl, this.e2e, this.queueTime]) h.zero(this.#labels);
    for (const reason of ["stop", "length", "abort", "error"] as const) this.#success.inc({ ...this.#labels, finished_reason: reason }, 0);
    this.setEngineState(null, false);
  }

  /** Updates the gauges from an engine snapshot (null: engine not available → zeros). */
  setEngineState(stats: EngineStats | null, ready: boolean): void {
    this.#running.set(this.#labels, stats?.numRunning ?? 0);
    this.#waiting.set(this.#labels, stats?.numWaiting ?? 0);
    this.#kvUsage.set(this.#labels, stats?.kvCacheUsage ?? 0);
    this.#kvCached.set(this.#labels, stats && stats.kvCellsTotal > 0 ? stats.kvCellsCached / stats.kvCellsTotal : 0);
    this.#engineReady.set(this.#labels, ready ? 1 : 0);
    if (stats) this.#setCacheConfig(Math.floor(stats.kvCellsTotal / this.#blockSize));
  }

  #setCacheConfig(numGpuBlocks: number): void {
    this.#cacheConfig.reset();
    this.#cacheConfig.set(
      {
        ...this.#labels,
        block_size: String(this.#blockSize),
        num_gpu_blocks: String(numGpuBlocks),
        enable_prefix_caching: this.#enablePrefixCaching ? "True" : "False",
        cache_dtype: "auto",
      },
      1,
    );
  }

  recordEngineRestart(): void {
    this.#engineRestarts.inc(this.#labels);
  }

  /** Starts tracking one request that arrived at `arrivalMs` (performance.now() clock). */
  trackRequest(arrivalMs: number): RequestTracker {
    return new RequestTracker(this, arrivalMs);
  }

  /** @internal used by RequestTracker */
  addPrompt(numPromptTokens: number, numCachedTokens: number): void {
    this.#promptTokens.inc(this.#labels, numPromptTokens);
    this.#prefixQueries.inc(this.#labels, numPromptTokens);
    this.#prefixHits.inc(this.#labels, numCachedTokens);
  }

  /** @internal used by RequestTracker */
  addGenerated(numTokens: number): void {
    if (numTokens > 0) this.#generationTokens.inc(this.#labels, numTokens);
  }

  /** @internal used by RequestTracker */
  addFinished(reason: FinishReason): void {
    this.#success.inc({ ...this.#labels, finished_reason: reason });
  }

  get labels(): { model_name: string } {
    return this.#labels;
  }

  async render(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}

/**
 * Per-request timing: TTFT at the first output carrying tokens, inter-token latency between later
 * outputs (spread evenly over the steps an output covers), e2e at finish.
 */
export class RequestTracker {
  #firstTokenMs: number | null = null;
  #lastTokenMs = 0;
  #promptCounted = false;
  #finished = false;

  constructor(
    readonly metrics: ServerMetrics,
    readonly arrivalMs: number,
  ) {}

  /** The engine started working on the request `queuedMs` after arrival (when the engine reports it). */
  recordQueueTime(queuedMs: number): void {
    this.metrics.queueTime.observe(this.metrics.labels, Math.max(0, queuedMs) / 1000);
  }

  onOutput(out: RequestOutput, nowMs: number): void {
    if (!this.#promptCounted) {
      this.#promptCounted = true;
      this.metrics.addPrompt(out.numPromptTokens, out.numCachedTokens);
    }
    let tokens = 0;
    let steps = 0;
    for (const d of out.deltas) {
      tokens += d.tokenIds.length;
      steps = Math.max(steps, d.tokenIds.length);
    }
    if (tokens === 0) return;
    this.metrics.addGenerated(tokens);
    if (this.#firstTokenMs === null) {
      this.#firstTokenMs = nowMs;
      this.metrics.ttft.observe(this.metrics.labels, (nowMs - this.arrivalMs) / 1000);
    } else {
      const perStep = (nowMs - this.#lastTokenMs) / 1000 / steps;
      for (let i = 0; i < steps; i++) this.metrics.itl.observe(this.metrics.labels, perStep);
    }
    this.#lastTokenMs = nowMs;
  }

  /** Records e2e latency and one success count per finished choice. Idempotent. */
  finish(reasons: readonly FinishReason[], nowMs: number): void {
    if (this.#finished) return;
    this.#finished = true;
    this.metrics.e2e.observe(this.metrics.labels, (nowMs - this.arrivalMs) / 1000);
    for (const r of reasons) this.metrics.addFinished(r);
  }
}
