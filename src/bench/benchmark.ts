/**
 * The load generator: sends a dataset's conversations at one load point and collects every request's
 * timing. As in vLLM's `benchmark()` (`vllm/benchmarks/serve.py`):
 *   1. arrival times are drawn up front: all at t = 0 when the request rate is infinite, else gaps from
 *      a gamma distribution with shape `burstiness` and mean 1/rate (burstiness 1 = Poisson);
 *   2. each arrival waits for a slot when `maxConcurrency` is set (closed loop when the rate is
 *      infinite, open loop otherwise);
 *   3. the run ends when the last request ends; its duration is the wall time from the first send.
 * A conversation's turns are sent one after another, each with the history so far (the server's own
 * replies included); only the first turn follows the arrival schedule, and a turn holds a concurrency
 * slot only while it is in flight.
 * @module
 */
import { setTimeout as sleep } from "node:timers/promises";
import type { ChatCompletionContentPart, ChatCompletionMessageParam } from "../protocol/chat.js";
import { imageDataUrl } from "./datasets/png.js";
import { Rng } from "./datasets/rng.js";
import { type BenchmarkMetrics, calculateMetrics } from "./metrics.js";
import { sendRequest } from "./request-runner.js";
import type { Conversation, EndpointKind, LoadPoint, RequestInput, RequestOutput, SampleRequest } from "./types.js";

export interface TargetOptions {
  /** e.g. `http://127.0.0.1:8000` */
  readonly baseUrl: string;
  /** e.g. `/v1/completions` */
  readonly endpoint: string;
  readonly kind: EndpointKind;
  readonly model: string;
  readonly apiKey?: string;
  readonly ignoreEos: boolean;
  readonly extraBody: Readonly<Record<string, unknown>>;
  readonly timeoutMs: number;
}

export interface RunOptions {
  readonly load: LoadPoint;
  /** Gamma shape of the inter-arrival gaps; 1 is Poisson, < 1 burstier, > 1 more even. */
  readonly burstiness: number;
  readonly seed: number;
  readonly percentiles: readonly number[];
  readonly signal?: AbortSignal;
  /** Called after each request, in completion order. */
  readonly onRequestDone?: (out: RequestOutput) => void;
}

export interface RunResult {
  readonly load: LoadPoint;
  readonly burstiness: number;
  readonly startedAt: string;
  readonly durationMs: number;
  readonly metrics: BenchmarkMetrics;
  readonly outputs: RequestOutput[];
}

/** Arrival offsets (ms) of `n` arrivals at `rate` requests/s. */
export function arrivalTimesMs(n: number, rate: number, burstiness: number, seed: number): number[] {
  if (!Number.isFinite(rate)) return new Array<number>(n).fill(0);
  const rng = new Rng(seed ^ 0x5eed);
  const scaleS = 1 / (rate * burstiness);
  const out: number[] = [];
  let t = 0;
  for (let i = 0; i < n; i++) {
    out.push(t);
    t += rng.gamma(burstiness, scaleS) * 1000;
  }
  return out;
}

/** A counting semaphore (FIFO). */
class Slots {
  #free: number;
  readonly #waiting: (() => void)[] = [];
  constructor(n: number) {
    this.#free = n;
  }
  async acquire(): Promise<void> {
    if (this.#free > 0) {
      this.#free--;
      return;
    }
    await new Promise<void>((resolve) => this.#waiting.push(resolve));
  }
  release(): void {
    const next = this.#waiting.shift();
    if (next) next();
    else this.#free++;
  }
}

function userContent(turn: SampleRequest): string | ChatCompletionContentPart[] {
  if (!turn.images || turn.images.length === 0) return turn.prompt;
  const parts: ChatCompletionContentPart[] = turn.images.map((img) => ({ type: "image_url", image_url: { url: imageDataUrl(img) } }));
  parts.push({ type: "text", text: turn.prompt });
  return parts;
}

/** The request for one turn: a plain prompt for /v1/completions, messages (with history) for chat. */
export function buildInput(
  target: TargetOptions,
  turn: SampleRequest,
  history: readonly ChatCompletionMessageParam[],
  requestId: string,
  system?: string,
): RequestInput {
  const common = {
    apiUrl: target.baseUrl.replace(/\/+$/, "") + target.endpoint,
    model: target.model,
    numPromptTokens: turn.numPromptTokens,
    numOutputTokens: turn.numOutputTokens,
    ignoreEos: target.ignoreEos,
    extraBody: target.extraBody,
    requestId,
    timeoutMs: target.timeoutMs,
    ...(target.apiKey ? { apiKey: target.apiKey } : {}),
  };
  const sys = turn.system ?? system;
  if (target.kind === "completions") {
    if (history.length > 0 || (turn.images?.length ?? 0) > 0)
      throw new Error("multi-turn and image requests need a chat endpoint (/v1/chat/completions)");
    return { ...common, prompt: sys ? `${sys}\n\n${turn.prompt.trimStart()}` : turn.prompt };
  }
  const messages: ChatCompletionMessageParam[] = [];
  if (sys) messages.push({ role: "system", content: sys });
  messages.push(...history, { role: "user", content: userContent(turn) });
  return { ...common, prompt: messages };
}

/** Sends every conversation at `opts.load` and returns the outputs (in send order) and metrics. */
export async function runBenchmark(target: TargetOptions, conversations: readonly Conversation[], opts: RunOptions): Promise<RunResult> {
  const arrivals = arrivalTimesMs(conversations.length, opts.load.requestRate, opts.burstiness, opts.seed);
  const slots = opts.load.maxConcurrency === null ? null : new Slots(opts.load.maxConcurrency);
  const outputs: RequestOutput[] = [];
  const startedAt = new Date().toISOString();
  const t0 = performance.now();
  let seq = 0;

  const runConversation = async (conv: Conversation, arrivalMs: number): Promise<void> => {
    const wait = arrivalMs - (performance.now() - t0);
    if (wait > 0) await sleep(wait, undefined, opts.signal ? { signal: opts.signal } : {}).catch(() => undefined);
    const history: ChatCompletionMessageParam[] = [];
    for (const turn of conv.turns) {
      if (opts.signal?.aborted) return;
      await slots?.acquire();
      let out: RequestOutput;
      let input: RequestInput;
      try {
        // Built once a slot is free, so images are rendered just in time (not all up front).
        input = buildInput(target, turn, history, `bench-${process.pid}-${seq++}`, conv.system);
        out = await sendRequest(target.kind, input, t0, opts.signal);
      } finally {
        slots?.release();
      }
      outputs.push(out);
      opts.onRequestDone?.(out);
      if (!out.success) return; // the rest of the conversation would build on a missing reply
      if (typeof input.prompt !== "string")
        history.push(input.prompt[input.prompt.length - 1]!, { role: "assistant", content: out.generatedText });
    }
  };

  await Promise.all(conversations.map((c, i) => runConversation(c, arrivals[i]!)));
  const durationMs = performance.now() - t0;
  outputs.sort((a, b) => a.startMs - b.startMs);
  return {
    load: opts.load,
    burstiness: opts.burstiness,
    startedAt,
    durationMs,
    metrics: calculateMetrics(outputs, durationMs, opts.percentiles),
    outputs,
  };
}
