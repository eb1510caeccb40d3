/**
 * What the in-process and child-process clients share: request bookkeeping, `generate()` with
 * abort-on-cancel, and failing everything in flight when the engine dies.
 * @module
 */
import { EngineDeadError, InvalidRequestError } from "../../common/errors.js";
import { fromEngineError } from "../errors.js";
import { ensureValidSamplingParams } from "../sample/sampling-params.js";
import { MAX_LOGPROBS, MAX_N, MAX_STOP_STRINGS } from "../config.js";
import type { EngineConfig, EngineRequest, EngineStats, ModelInfo, RequestOutput, TokenId } from "../types.js";
import type { EngineClient, TokenizeOptions } from "./engine-client.js";
import { OutputStream } from "./output-stream.js";

export abstract class BaseEngineClient implements EngineClient {
  readonly #streams = new Map<string, OutputStream>();
  readonly #deadListeners: Array<(err: Error) => void> = [];
  #dead: Error | null = null;
  #closed = false;

  constructor(
    readonly modelInfo: ModelInfo,
    readonly config: EngineConfig,
  ) {}

  protected abstract submit(request: EngineRequest): void;
  protected abstract abort(requestId: string): void;
  abstract tokenize(text: string, opts?: TokenizeOptions): Promise<TokenId[]>;
  abstract detokenize(tokenIds: TokenId[], opts?: { special?: boolean }): Promise<string>;
  abstract stats(): Promise<EngineStats>;
  protected abstract shutdown(): Promise<void>;

  async *generate(request: EngineRequest, signal?: AbortSignal): AsyncGenerator<RequestOutput> {
    if (this.#dead) throw new EngineDeadError(undefined, this.#dead);
    if (this.#closed) throw new EngineDeadError("the engine is shut down");
    if (this.#streams.has(request.requestId)) throw new InvalidRequestError(`duplicate request id ${request.requestId}`);
    // Sampling parameters are checked once before anything reaches the engine: by the server (which names
    // the wire's parameters in its errors) or, for other callers (bench, tools, tests), here. The core and
    // the sampler trust what this returns.
    const sampling = ensureValidSamplingParams(request.sampling, {
      vocabSize: this.modelInfo.vocabSize,
      maxModelLen: this.config.maxModelLen,
      maxLogprobs: MAX_LOGPROBS,
      maxN: MAX_N,
      maxStopStrings: MAX_STOP_STRINGS,
    });
    const stream = new OutputStream();
    this.#streams.set(request.requestId, stream);
    let finished = false;
    const onAbort = () => this.abort(request.requestId);
    try {
      if (signal?.aborted) return;
      signal?.addEventListener("abort", onAbort, { once: true });
      this.submit({ ...request, sampling });
      for await (const out of stream.drain()) {
        if (out.finished) finished = true;
        if (out.error) throw fromEngineError(out.error);
        yield out;
      }
    } finally {
      signal?.removeEventListener("abort", onAbort);
      this.#streams.delete(request.requestId);
      if (!finished && !this.#dead) this.abort(request.requestId);
    }
  }

  /** Routes engine outputs to their requests' streams. */
  protected deliver(outputs: RequestOutput[]): void {
    for (const out of outputs) this.#streams.get(out.requestId)?.push(out);
  }

  /** A request failed before producing output (e.g. rejected by the engine). */
  protected failRequest(requestId: string, err: Error): void {
    this.#streams.get(requestId)?.fail(err);
  }

  /** The engine is gone: fail everything in flight and tell the listeners, once. */
  protected markDead(cause: Error): void {
    if (this.#dead || this.#closed) return;
    this.#dead = cause;
    const err = new EngineDeadError(undefined, cause);
    for (const s of this.#streams.values()) s.fail(err);
    for (const l of this.#deadListeners) l(cause);
  }

  isAlive(): boolean {
    return this.#dead === null && !this.#closed;
  }

  onDead(listener: (err: Error) => void): void {
    this.#deadListeners.push(listener);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const s of this.#streams.values()) s.fail(new EngineDeadError("the engine is shut down"));
    await this.shutdown();
  }
}
