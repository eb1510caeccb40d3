/**
 * What the engine needs from a model: run one batch, tokenize, and render token pieces.
 * `LlamaRunner` implements it over llama.cpp; `FakeRunner` scripts it for fast scheduler tests.
 * @module
 */
import type { MemoryOp, SeqId } from "../kv/kv-manager.js";
import type { EngineConfig, ModelInfo, TokenId } from "../types.js";
import type { GrammarConstraint } from "../sample/grammar.js";

/** One sequence's tokens in a batch. */
export interface BatchItem {
  seqId: SeqId;
  tokens: readonly TokenId[];
  startPos: number;
  needsLogits: boolean;
}

export interface ModelRunner {
  readonly modelInfo: ModelInfo;
  /** The engine configuration with model-dependent defaults resolved. */
  readonly config: EngineConfig;
  /** KV cells of the cache (llama.cpp `n_ctx`). */
  readonly numKvCells: number;
  /** The most tokens one `execute` may carry (llama.cpp `n_batch`). */
  readonly maxBatchTokens: number;

  /**
   * Applies `memoryOps` in order, then decodes `items` as one batch. Resolves to the logits of every
   * item with `needsLogits`, in item order; each row is valid only until the next `execute`.
   */
  execute(items: readonly BatchItem[], memoryOps: readonly MemoryOp[]): Promise<Float32Array[]>;

  tokenize(text: string, addSpecial: boolean, parseSpecial: boolean): TokenId[];
  /** The UTF-8 bytes of one token as generated text (special tokens render empty unless `special`). */
  pieceOf(tokenId: TokenId, special?: boolean): Uint8Array;
  detokenize(tokenIds: readonly TokenId[], special: boolean): string;

  /** Compiles a GBNF grammar (start symbol `root`) for this vocabulary; throws when it does not parse. */
  createGrammar?(gbnf: string): GrammarConstraint;

  close(): void;
}
