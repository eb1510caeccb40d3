/**
 * The values that cross the seams of `herd bench`: dataset → load generator → request runner →
 * metrics. The request runner's input and output follow vLLM's
 * `vllm/benchmarks/lib/endpoint_request_func.py` (`RequestFuncInput` / `RequestFuncOutput`), in
 * milliseconds rather than seconds.
 * @module
 */
import type { ChatCompletionMessageParam } from "../protocol/chat.js";

/** A synthetic image, rendered to a PNG data URL only when its request is sent (keeps memory flat). */
export interface ImageSpec {
  readonly width: number;
  readonly height: number;
  readonly seed: number;
}

/** One request a dataset wants sent: a plain prompt (with optional images) or a whole conversation. */
export interface SampleRequest {
  /** Text for /v1/completions, or the user message for /v1/chat/completions. */
  readonly prompt: string;
  /** A system message sent before the prompt (chat only; prepended to the prompt for /v1/completions). */
  readonly system?: string;
  /** Images sent with the prompt (chat only). */
  readonly images?: readonly ImageSpec[];
  /** Prompt length the dataset aimed for, in (approximate) tokens; the server's usage wins when reported. */
  readonly numPromptTokens: number;
  /** `max_tokens` for the request. */
  readonly numOutputTokens: number;
}

/** A multi-turn conversation: the user turns, sent one after another with the replies in between. */
export interface Conversation {
  readonly system?: string;
  readonly turns: readonly SampleRequest[];
}

/** What the request runner sends (vLLM's `RequestFuncInput`). */
export interface RequestInput {
  /** Full URL: base URL + endpoint. */
  readonly apiUrl: string;
  readonly model: string;
  /** Plain prompt (completions) or messages (chat). */
  readonly prompt: string | readonly ChatCompletionMessageParam[];
  readonly numPromptTokens: number;
  readonly numOutputTokens: number;
  readonly ignoreEos: boolean;
  /** Sampling fields merged into the body (temperature, top_p, top_k, …). */
  readonly extraBody: Readonly<Record<string, unknown>>;
  readonly apiKey?: string;
  /** Sent as `x-request-id`. */
  readonly requestId: string;
  /** Give up after this long (whole request). */
  readonly timeoutMs: number;
}

/** What came back (vLLM's `RequestFuncOutput`). All times are milliseconds. */
export interface RequestOutput {
  success: boolean;
  generatedText: string;
  /** Prompt tokens: the server's `usage.prompt_tokens` when reported, else the dataset's estimate. */
  numPromptTokens: number;
  /** Output tokens: the server's `usage.completion_tokens` when reported, else the number of text chunks. */
  numOutputTokens: number;
  /** True when both counts came from the server's `usage`. */
  hasUsage: boolean;
  /** Send → first chunk that carries text. 0 when none arrived. */
  ttftMs: number;
  /** Gaps between consecutive text chunks (one per chunk after the first). */
  itlMs: number[];
  /** Send → end of stream. */
  latencyMs: number;
  /** When the request was sent, relative to the start of the run. */
  startMs: number;
  /** HTTP status, or 0 when no response came. */
  status: number;
  error: string;
}

/** Closed loop (fixed concurrency) and/or open loop (Poisson or gamma arrivals). */
export interface LoadPoint {
  /** Requests per second; `Infinity` sends everything at once (then only max concurrency limits). */
  readonly requestRate: number;
  /** At most this many requests in flight; null for no limit. */
  readonly maxConcurrency: number | null;
}

export type DatasetName = "random" | "prefix" | "prefix_repetition" | "multiturn" | "image";
export type EndpointKind = "completions" | "chat";
