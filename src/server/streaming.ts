/**
 * Helpers shared by the streaming endpoints.
 * @module
 */
import type { CompletionUsage } from "../protocol/responses.js";
import type { Lease } from "./engine-host.js";
import type { Logger } from "./logger.js";
import type { SSEOptions } from "./sse.js";

/** SSE hooks for a stream that holds an engine lease: release it when the stream ends, log failures. */
export function leasedStreamOptions(lease: Lease, log: Logger): SSEOptions {
  return {
    onClose: (outcome) => {
      lease.release();
      log.debug({ outcome }, "stream closed");
    },
    onError: (err) => {
      // An internal error's message is generic; its cause says what failed.
      const cause = err instanceof Error && err.cause instanceof Error ? { cause: err.cause.message } : {};
      log.warn({ err: { message: err instanceof Error ? err.message : String(err), ...cause } }, "stream failed mid-way");
    },
  };
}

/**
 * Waits for the first item of `gen` before the response starts, so that failures raised before any
 * output (invalid parameters, queue full, engine dead) still get their own HTTP status instead of a
 * 200 followed by an error event. Returns a generator that replays the first item and continues.
 */
export async function primeGenerator<T>(gen: AsyncGenerator<T>): Promise<AsyncGenerator<T>> {
  let first: IteratorResult<T> | null = await gen.next();
  // Not a wrapping generator: every later item goes straight through `gen.next()` (one async layer
  // less per streamed token).
  const primed: AsyncGenerator<T> = {
    next: () => {
      if (first === null) return gen.next();
      const r = first;
      first = null;
      return Promise.resolve(r);
    },
    return: (value) => {
      first = null;
      return gen.return(value);
    },
    throw: (err) => {
      first = null;
      return gen.throw(err);
    },
    [Symbol.asyncIterator]: () => primed,
  };
  return primed;
}

/**
 * Coalesces SSE batches: `push` collects the events of one engine output and says whether to write
 * now — the first output, every `interval`-th one, and (via `take`) whatever is left at the end.
 */
export class StreamBatcher<T> {
  #pending: T[] = [];
  #outputs = 0;

  constructor(readonly interval: number) {}

  /** Adds one output's events; returns the batch to write now, or null to hold it. */
  push(events: readonly T[]): T[] | null {
    this.#pending.push(...events);
    this.#outputs++;
    if (this.#outputs === 1 || this.#outputs % this.interval === 0) return this.take();
    return null;
  }

  take(): T[] {
    const out = this.#pending;
    this.#pending = [];
    return out;
  }
}

/** Usage as OpenAI reports it. */
function makeUsage(promptTokens: number, completionTokens: number, cachedTokens: number): CompletionUsage {
  return {
    prompt_tokens: promptTokens,
    completion_tokens: completionTokens,
    total_tokens: promptTokens + completionTokens,
    prompt_tokens_details: { cached_tokens: cachedTokens },
  };
}

/** Per-job prompt token counts, learnt from the first output of each job. */
export class UsageCounter {
  readonly #prompt = new Map<number, { tokens: number; cached: number }>();
  #completion = 0;

  add(jobIndex: number, numPromptTokens: number, numCachedTokens: number, numNewTokens: number): void {
    if (!this.#prompt.has(jobIndex)) this.#prompt.set(jobIndex, { tokens: numPromptTokens, cached: numCachedTokens });
    this.#completion += numNewTokens;
  }

  /** `fallbackPrompt`: prompt sizes of jobs that produced no output at all. */
  usage(fallbackPrompt: readonly number[]): CompletionUsage {
    let prompt = 0;
    let cached = 0;
    fallbackPrompt.forEach((n, i) => {
      const p = this.#prompt.get(i);
      prompt += p?.tokens ?? n;
      cached += p?.cached ?? 0;
    });
    return makeUsage(prompt, this.#completion, cached);
  }
}
