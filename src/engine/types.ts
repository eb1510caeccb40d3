/**
 * Plain data that crosses the engine boundary (and the engine process boundary): structured-cloneable,
 * no classes. The engine speaks tokens; it knows nothing of HTTP or OpenAI.
 * @module
 */
import type { EngineError } from "./errors.js";

export type TokenId = number;

/** Sampling and stopping parameters of one request. Validated by `validateSamplingParams` before the engine sees them. */
export interface SamplingParams {
  /** Number of completions sharing the prompt's KV. Default 1. */
  n: number;
  /** 0 = greedy. Default 1. */
  temperature: number;
  /** 0 or -1 = disabled. */
  topK: number;
  /** 1 = disabled. */
  topP: number;
  /** 0 = disabled. */
  minP: number;
  /** Per-request seed for reproducible sampling; undefined = random. */
  seed?: number | undefined;
  /** OpenAI-style additive penalties over generated tokens, -2..2. */
  presencePenalty: number;
  frequencyPenalty: number;
  /** vLLM/llama.cpp-style multiplicative penalty over prompt + generated tokens, > 0; 1 = disabled. */
  repetitionPenalty: number;
  /** token id → bias added to the logit (-100..100). */
  logitBias?: Record<number, number> | undefined;
  /** Maximum generated tokens; undefined = until the context is full. */
  maxTokens?: number | undefined;
  /** Stop conditions are ignored before this many tokens. */
  minTokens: number;
  /** Stop strings: matched across token boundaries, never included in the output text. */
  stop: string[];
  /** Extra token ids that end generation (included in outputs' token ids, not in the text). */
  stopTokenIds: TokenId[];
  /** Keep generating past end-of-generation tokens. */
  ignoreEos: boolean;
  /** Number of top alternatives to report per generated token; undefined = no logprobs. 0 = only the chosen token. */
  logprobs?: number | undefined;
  /**
   * Constrain generation to a GBNF grammar (llama.cpp syntax, start symbol `root`): the server turns
   * `response_format` JSON schemas and required tool calls into one.
   */
  grammar?: string | undefined;
  /** Render special/control tokens into the output text. Default false. */
  includeSpecialInText?: boolean | undefined;
}

/**
 * One image of a multimodal request, already tiled by the caller (Llama 4: 336×336 tiles, the
 * global tile last). The prompt holds one image-token placeholder (`<|patch|>`) per embedding; the
 * engine encodes the tiles with the model's vision projector and puts the embeddings there, in order.
 */
export interface ImageInput {
  /** Content hash (hex): prefix reuse matches images by it, never by their placeholder tokens. */
  hash: string;
  /** Each tile as packed RGB bytes, row-major, tileSize × tileSize × 3. */
  tiles: Uint8Array[];
  tileSize: number;
}

export interface EngineRequest {
  /** Unique id chosen by the caller. */
  requestId: string;
  promptTokenIds: TokenId[];
  /** Images whose embeddings replace the prompt's image placeholders, in prompt order. */
  images?: ImageInput[];
  sampling: SamplingParams;
  /** Wall-clock arrival time (ms since epoch), for queue-time metrics. */
  arrivalTimeMs?: number;
}

export type FinishReason = "stop" | "length" | "abort" | "error";

export interface TokenLogprob {
  tokenId: TokenId;
  /** UTF-8 bytes of the token's text (may be a partial character). */
  bytes: number[];
  logprob: number;
}

export interface GeneratedTokenLogprobs extends TokenLogprob {
  /** The top alternatives, most likely first (length = requested logprobs). */
  top: TokenLogprob[];
}

/** One update for one completion (index `index` of a request with n > 1). */
export interface CompletionDelta {
  index: number;
  /** Token ids generated since the previous delta. */
  tokenIds: TokenId[];
  /** Text completed since the previous delta (never half a UTF-8 character, never part of a stop string). */
  text: string;
  logprobs?: GeneratedTokenLogprobs[];
  finishReason?: FinishReason;
  /** The stop string or stop token id that ended it, when finishReason is "stop". */
  stopReason?: string | number | null;
}

export interface RequestOutput {
  requestId: string;
  deltas: CompletionDelta[];
  /** True once every completion of the request has finished. */
  finished: boolean;
  numPromptTokens: number;
  /** Prompt tokens served from the prefix cache instead of being computed. */
  numCachedTokens: number;
  /** Milliseconds from arrival to first being scheduled; on the first output of a request only. */
  queueTimeMs?: number;
  /** Present when the request failed inside the engine. */
  error?: EngineError;
}

/** A snapshot of engine counters, for /metrics and tests. */
export interface EngineStats {
  numRunning: number;
  numWaiting: number;
  /** KV cells in use (running sequences plus cached prefixes) / total cells, 0..1. */
  kvCacheUsage: number;
  kvCellsUsed: number;
  kvCellsTotal: number;
  /** Cells held only by finished requests' cached prefixes. */
  kvCellsCached: number;
  /** Cached prefixes evicted to keep the prefix cache within its cap (not for lack of cells). */
  numCacheEvictions: number;
  prefixCacheQueries: number;
  prefixCacheHits: number;
  numPromptTokensComputed: number;
  numGenerationTokens: number;
  numPreemptions: number;
  numSteps: number;
  /** Steps that produced at least one token since start. */
  hasProducedToken: boolean;
}

export interface ModelInfo {
  /** Path or name of the loaded model. */
  path: string;
  description: string;
  architecture: string;
  numParams: number;
  sizeBytes: number;
  vocabSize: number;
  contextTrainLength: number;
  /**
   * Positions a sliding-window or chunked-attention layer attends (`llama_model_n_swa`; Llama 4: its
   * 8192-token attention chunks); 0 = none. llama.cpp may purge the early positions of a sequence this
   * long or longer from its sliding-window cache, so such a sequence cannot lend its prefix.
   */
  slidingWindow: number;
  bosTokenId: TokenId;
  eosTokenId: TokenId;
  /** Every end-of-generation id the vocabulary declares (plus Llama 4's three stop ids when present). */
  eogTokenIds: TokenId[];
  addBos: boolean;
  chatTemplate: string | null;
  /** Present when a vision projector is loaded: what the server needs to expand image prompts. */
  vision?: { placeholderTokenId: TokenId; embeddingsPerTile: number; tileSize: number; mmproj: string };
  /** `general.*` and other string metadata that is useful to the server (e.g. herd.random_weights). */
  metadata: Record<string, string>;
}

export interface EngineConfig {
  model: string;
  /** Vision projector GGUF (mmproj) for image input; none = text only. */
  mmproj?: string | undefined;
  /** When the projector cannot be loaded (e.g. libmtmd cannot be built here), warn and serve text only. */
  mmprojOptional?: boolean | undefined;
  device: "cpu" | "cuda" | "vulkan";
  /** Maximum tokens (prompt + output) of one sequence. */
  maxModelLen: number;
  /** Maximum concurrently running sequences. */
  maxNumSeqs: number;
  /** Token budget of one step (one llama_decode; two when image embeddings join text tokens). */
  maxNumBatchedTokens: number;
  /** Total KV cells; default maxModelLen × maxNumSeqs, capped at max(maxModelLen, 32768) (see finalizeEngineConfig). */
  kvCacheTokens: number;
  /** Bound on queued requests before new ones get a capacity error. */
  maxWaiting: number;
  threads: number;
  /** Keep KV of finished requests for prefix reuse (LRU under the KV budget). */
  enablePrefixCaching: boolean;
  /**
   * Most KV cells finished requests' cached prefixes may hold while requests decode; undefined or
   * negative = auto (as many as the running requests use, at least min(maxModelLen, 4096), scaled by
   * the share of idle sequence slots). See SchedulerConfig.maxCachedTokens.
   */
  maxCachedTokens?: number | undefined;
  /** GPU layers when device is not cpu (-1 = all). */
  nGpuLayers: number;
  /**
   * Run llama_decode on the calling thread (default true) instead of koffi's worker thread, which
   * measured slower and erratic (docs/performance.md#decode-thread). A sync decode blocks
   * the caller's event loop during the step; the engine loop yields between steps, and serving runs
   * the engine in its own process.
   */
  syncDecode?: boolean | undefined;
  /** Flash attention: "auto" | "on" | "off". */
  flashAttn: "auto" | "on" | "off";
  /**
   * How the weights are loaded (llama.cpp's load modes, llama-server's `--load-mode`). "auto": into the
   * engine's own memory on the CPU device ("none"), where the engine process asks for transparent huge
   * pages; llama.cpp's choice (mmap) on a GPU. See `resolveLoadMode`.
   */
  loadMode: LoadMode;
  /**
   * Tokens per block in KV-cache events and `vllm:cache_config_info` (vLLM's `--block-size`). herd's
   * KV is token cells; blocks exist only for hashing and reporting (kv/block-tracker.ts). Default 16.
   */
  blockSize?: number | undefined;
  /** Publish KV-cache events (vLLM's `--kv-events-config`); none = off. */
  kvEvents?: { endpoint: string; topic: string } | undefined;
}

/** llama.cpp's model load modes by llama-server's names, plus herd's "auto". */
export const LOAD_MODES = ["auto", "none", "mmap", "mlock", "mmap+mlock", "dio"] as const;
export type LoadMode = (typeof LOAD_MODES)[number];
