/**
 * The small interface the server (or a test) uses to talk to an engine, wherever it runs:
 * `InProcessClient` (same process, for tests) or `ProcessClient` (a child process, for serving:
 * a llama.cpp abort kills only the child, and every in-flight request then fails with `EngineDeadError`).
 * @module
 */
import type { EngineConfig, EngineRequest, EngineStats, ModelInfo, RequestOutput, TokenId } from "../types.js";

export interface TokenizeOptions {
  /** Add BOS (and other special tokens) as the model's vocabulary says. Default true. */
  addSpecial?: boolean;
  /** Parse special-token text such as `<|eot|>` into its id. Default true. */
  parseSpecial?: boolean;
  /**
   * Refuse with `ContextLengthExceededError` a text that cannot fit in this many tokens, judged from its
   * length before tokenizing (no token covers more than the vocabulary's longest piece).
   */
  maxTokens?: number;
}

export interface EngineClient {
  /** Model facts, known once `start()` resolved. */
  readonly modelInfo: ModelInfo;
  /** The engine's configuration with model-dependent defaults resolved (e.g. the final maxModelLen). */
  readonly config: EngineConfig;

  /**
   * Submits a request and yields its outputs until `finished`. Aborting `signal` (or breaking out of
   * the loop) aborts the request in the engine; its sequence is freed within one step.
   * Throws `InvalidRequestError`, `CapacityError` (queue full) or `EngineDeadError`.
   */
  generate(request: EngineRequest, signal?: AbortSignal): AsyncIterable<RequestOutput>;

  tokenize(text: string, opts?: TokenizeOptions): Promise<TokenId[]>;

  /** Token ids → text. `special`: render special tokens (default false). */
  detokenize(tokenIds: TokenId[], opts?: { special?: boolean }): Promise<string>;

  stats(): Promise<EngineStats>;

  /** True while the engine can take requests. */
  isAlive(): boolean;

  /** Called once when the engine dies unexpectedly. */
  onDead(listener: (err: Error) => void): void;

  /** Stops the engine; in-flight requests are aborted. */
  close(): Promise<void>;
}
