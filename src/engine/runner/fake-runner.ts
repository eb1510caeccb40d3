/**
 * A scripted `ModelRunner` for scheduler and engine tests without llama.cpp: the "model" predicts
 * `(last token + 1) % vocabSize`, so outputs are easy to check, and it records every batch it ran.
 * It mirrors llama.cpp's KV checks (positions must continue each sequence, cells must exist).
 * @module
 */
import type { MemoryOp } from "../kv/kv-manager.js";
import type { EngineConfig, ModelInfo, TokenId } from "../types.js";
import type { BatchItem, ModelRunner, VisionRunner } from "./model-runner.js";
import { defaultEngineConfig, finalizeEngineConfig } from "../config.js";

export interface FakeRunnerOptions {
  /** A fake vision projector: placeholder token, embeddings per tile, 2×2-pixel tiles, 2 floats per embedding. */
  vision?: { placeholderTokenId: number; embeddingsPerTile: number };
  vocabSize?: number;
  numKvCells?: number;
  maxBatchTokens?: number;
  eosTokenId?: number;
  config?: Partial<EngineConfig>;
  /** Like a model with sliding-window layers: a sequence this long or longer loses its early positions. */
  slidingWindow?: number;
}

export class FakeRunner implements ModelRunner {
  readonly modelInfo: ModelInfo;
  readonly config: EngineConfig;
  readonly numKvCells: number;
  readonly maxBatchTokens: number;
  readonly vision: VisionRunner | undefined;
  /** Tiles encoded so far (first byte of each), for assertions. */
  readonly encodedTiles: number[] = [];
  /** Every executed batch, for assertions. */
  readonly batches: BatchItem[][] = [];
  /** Positions held per sequence label (what llama.cpp's KV would hold). */
  readonly seqLen = new Map<number, number>();
  /** Most KV cells held at once, counting shared prefixes once per holder (an upper bound). */
  maxCellsInUse = 0;

  constructor(opts: FakeRunnerOptions = {}) {
    const vocabSize = opts.vocabSize ?? 64;
    this.numKvCells = opts.numKvCells ?? 1024;
    this.maxBatchTokens = opts.maxBatchTokens ?? 64;
    this.config = finalizeEngineConfig(
      {
        ...defaultEngineConfig("fake"),
        maxNumBatchedTokens: this.maxBatchTokens,
        kvCacheTokens: this.numKvCells,
        maxModelLen: this.numKvCells,
        ...opts.config,
      },
      this.numKvCells,
    );
    const eos = opts.eosTokenId ?? vocabSize - 1;
    const v = opts.vision;
    this.vision = v && {
      placeholderTokenId: v.placeholderTokenId,
      embeddingsPerTile: v.embeddingsPerTile,
      embdSize: 2,
      tileSize: 2,
      encodeTile: (rgb: Uint8Array) => {
        this.encodedTiles.push(rgb[0]!);
        return new Float32Array(v.embeddingsPerTile * 2).fill(rgb[0]!);
      },
    };
    this.modelInfo = {
      path: "fake",
      description: "fake",
      architecture: "fake",
      numParams: 0,
      sizeBytes: 0,
      vocabSize,
      contextTrainLength: this.numKvCells,
      slidingWindow: opts.slidingWindow ?? 0,
      bosTokenId: 0,
      eosTokenId: eos,
      eogTokenIds: [eos],
      addBos: true,
      chatTemplate: null,
      metadata: {},
    };
  }

  async execute(items: readonly BatchItem[], memoryOps: readonly MemoryOp[]): Promise<Float32Array[]> {
    for (const op of memoryOps) {
      if (op.op === "copy") {
        // llama.cpp copies the cells the source holds; one as long as the sliding window may hold none
        // of its early positions (they are purged when another sequence takes their cells): none here.
        const held = this.seqLen.get(op.src) ?? 0;
        const purged = this.modelInfo.slidingWindow > 0 && held >= this.modelInfo.slidingWindow;
        this.seqLen.set(op.dst, purged ? 0 : Math.min(op.numTokens, held));
      } else if (op.fromPos === 0) this.seqLen.delete(op.seq);
      else this.seqLen.set(op.seq, Math.min(this.seqLen.get(op.seq) ?? 0, op.fromPos));
    }
    if (items.length === 0) return [];
    let n = 0;
    for (const it of items) n += it.tokens.length;
    if (n > this.maxBatchTokens) throw new Error(`batch of ${n} > ${this.maxBatchTokens}`);
    const rows: Float32Array[] = [];
    for (const it of items) {
      if (it.embeddings && it.embeddings.length !== it.tokens.length * 2) throw new Error("embeddings of the wrong size");
      const have = this.seqLen.get(it.seqId) ?? 0;
      if (have !== it.startPos) throw new Error(`position gap on seq ${it.seqId}: has ${have}, batch starts at ${it.startPos}`);
      this.seqLen.set(it.seqId, have + it.tokens.length);
      if (it.needsLogits) {
        const row = new Float32Array(this.modelInfo.vocabSize);
        row[(it.tokens[it.tokens.length - 1]! + 1) % this.modelInfo.vocabSize] = 10;
        rows.push(row);
      }
    }
    let cells = 0;
    for (const n of this.seqLen.values()) cells += n;
    this.maxCellsInUse = Math.max(this.maxCellsInUse, cells);
    this.batches.push(items.map((it) => ({ ...it, tokens: [...it.tokens] })));
    await new Promise((r) => setImmediate(r));
    return rows;
  }

  tokenize(text: string): TokenId[] {
    return [...text].map((c) => c.charCodeAt(0) % this.modelInfo.vocabSize);
  }

  pieceOf(tokenId: TokenId): Uint8Array {
    return Buffer.from(String.fromCharCode(97 + (tokenId % 26)));
  }

  detokenize(tokenIds: readonly TokenId[]): string {
    return tokenIds.map((t) => String.fromCharCode(97 + (t % 26))).join("");
  }

  close(): void {}
}
