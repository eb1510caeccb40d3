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
  /** Input embeddings (tokens.length × embdSize) replacing the tokens, e.g. an image's patches. */
  embeddings?: Float32Array;
}

/** A vision projector loaded next to the text model. */
export interface VisionRunner {
  /** The prompt token that stands for one image embedding (Llama 4: `<|patch|>`). */
  readonly placeholderTokenId: TokenId;
  /** Embeddings one tile yields (Llama 4: 144). */
  readonly embeddingsPerTile: number;
  /** Width of one embedding (the text model's input embedding size). */
  readonly embdSize: number;
  /** Side of a tile in pixels (Llama 4: 336). */
  readonly tileSize: number;
  /** Encodes one tile (packed RGB, tileSize² × 3 bytes) into embeddingsPerTile × embdSize floats. */
  encodeTile(rgb: Uint8Array): Float32Array;
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
   * Applies `memoryOps` in order, then decodes `items` as one batch (two when some items carry
   * embeddings: llama.cpp takes tokens or embeddings per batch, not both). Resolves to the logits of
   * every item with `needsLogits`, in item order; each row is valid only until the next `execute`.
   */
  execute(items: readonly BatchItem[], memoryOps: readonly MemoryOp[]): Promise<Float32Array[]>;

  tokenize(text: string, addSpecial: boolean, parseSpecial: boolean, maxTokens?: number): TokenId[];
  /** The same, giving the event loop a turn every few milliseconds of work (long texts). */
  tokenizeAsync?(text: string, opts: { addSpecial: boolean; parseSpecial: boolean; maxTokens?: number }): Promise<TokenId[]>;
  /** The UTF-8 bytes of one token as generated text (special tokens render empty unless `special`). */
  pieceOf(tokenId: TokenId, special?: boolean): Uint8Array;
  detokenize(tokenIds: readonly TokenId[], special: boolean): string;

  /** Present when the model has a vision projector (mmproj). */
  readonly vision?: VisionRunner | undefined;

  /** Compiles a GBNF grammar (start symbol `root`) for this vocabulary; throws when it does not parse. */
  createGrammar?(gbnf: string): GrammarConstraint;

  close(): void;
}
