/**
 * What herd sends back: OpenAI's response, stream-chunk, error and model-list shapes, with
 * openai-node's names (`ChatCompletion`, `ChatCompletionChunk`, `Completion`, `CompletionUsage`, …)
 * but only the fields herd fills, plus vLLM's `stop_reason` and `max_model_len`. The server's
 * handlers build these types, so the compiler catches a field that drifts; bench and the chat page
 * read them. Imports nothing.
 * @module
 */

/** Why a choice ended. `abort` and `error` are vLLM's (the request was cancelled or failed mid-way). */
export type CompletionFinishReason = "stop" | "length" | "abort" | "error";
/** A chat choice that stopped on its own after calling tools says `tool_calls`. */
export type ChatCompletionFinishReason = CompletionFinishReason | "tool_calls";
/** vLLM's extra: the stop string or stop token id that ended a `stop` choice; null otherwise. */
export type StopReason = string | number | null;

export interface CompletionUsage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  prompt_tokens_details: { cached_tokens: number };
}

// ---- /v1/chat/completions ----------------------------------------------------------------------

/** One candidate token. -Infinity is sent as -9999 (JSON has no infinities). */
export interface ChatCompletionTopLogprob {
  token: string;
  logprob: number;
  /** The token's exact UTF-8 bytes (`token` shows U+FFFD for half a character). */
  bytes: number[];
}

export interface ChatCompletionTokenLogprob extends ChatCompletionTopLogprob {
  top_logprobs: ChatCompletionTopLogprob[];
}

export interface ChatCompletionLogprobs {
  content: ChatCompletionTokenLogprob[];
}

export interface ChatCompletionMessageToolCall {
  id: string;
  type: "function";
  function: { name: string; arguments: string };
}

/** The assistant message of a non-streamed choice; `tool_calls` is always there (empty without calls). */
export interface ChatCompletionMessage {
  role: "assistant";
  /** Null when the answer is only tool calls. */
  content: string | null;
  tool_calls: ChatCompletionMessageToolCall[];
}

export interface ChatCompletionChoice {
  index: number;
  message: ChatCompletionMessage;
  logprobs: ChatCompletionLogprobs | null;
  finish_reason: ChatCompletionFinishReason | null;
  stop_reason: StopReason;
}

export interface ChatCompletion {
  id: string;
  object: "chat.completion";
  created: number;
  model: string;
  choices: ChatCompletionChoice[];
  usage: CompletionUsage;
  system_fingerprint: null;
}

/** A streamed tool call: the first fragment has `id`, `type` and `function.name`; later ones add `arguments`. */
export interface ChatCompletionChunkToolCall {
  index: number;
  id?: string;
  type?: "function";
  function: { name?: string; arguments: string };
}

/** The first delta of each choice is `{role: "assistant", content: ""}`; the last (with `finish_reason`) is `{}`. */
export interface ChatCompletionChunkDelta {
  role?: "assistant";
  content?: string;
  tool_calls?: ChatCompletionChunkToolCall[];
}

export interface ChatCompletionChunkChoice {
  index: number;
  delta: ChatCompletionChunkDelta;
  logprobs: ChatCompletionLogprobs | null;
  finish_reason: ChatCompletionFinishReason | null;
  /** On the chunk that carries `finish_reason` only. */
  stop_reason?: StopReason;
}

/**
 * One `chat.completion.chunk` event. With `stream_options.include_usage` every chunk has
 * `usage: null` and a last chunk with no choices carries the usage; without it there is no `usage`.
 */
export interface ChatCompletionChunk {
  id: string;
  object: "chat.completion.chunk";
  created: number;
  model: string;
  choices: ChatCompletionChunkChoice[];
  usage?: CompletionUsage | null;
}

// ---- /v1/completions ---------------------------------------------------------------------------

/** Completions logprobs; `text_offset` counts UTF-16 units from the start of the choice's text. */
export interface CompletionLogprobs {
  tokens: string[];
  token_logprobs: number[];
  top_logprobs: Array<Record<string, number>>;
  text_offset: number[];
}

export interface CompletionChoice {
  index: number;
  text: string;
  logprobs: CompletionLogprobs | null;
  finish_reason: CompletionFinishReason | null;
  stop_reason: StopReason;
}

export interface Completion {
  id: string;
  object: "text_completion";
  created: number;
  model: string;
  choices: CompletionChoice[];
  usage: CompletionUsage;
  system_fingerprint: null;
}

/** One streamed `text_completion` event (openai-node types both as `Completion`); `usage` as for chat chunks. */
export interface CompletionChunk {
  id: string;
  object: "text_completion";
  created: number;
  model: string;
  choices: CompletionChoice[];
  usage?: CompletionUsage | null;
}

// ---- errors and /v1/models ---------------------------------------------------------------------

/** OpenAI's error object. */
export interface ErrorObject {
  message: string;
  type: string;
  param: string | null;
  code: string | null;
}

/** The body of every error response, and the event that ends a stream that failed mid-way (no `[DONE]` follows). */
export interface ErrorBody {
  error: ErrorObject;
}

export interface Model {
  id: string;
  object: "model";
  created: number;
  owned_by: string;
  /** The model's file (vLLM's field). */
  root: string;
  parent: null;
  /** vLLM's field; null until the model is loaded. */
  max_model_len: number | null;
  permission: never[];
}

export interface ModelList {
  object: "list";
  data: Model[];
}
