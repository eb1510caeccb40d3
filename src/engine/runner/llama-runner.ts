/**
 * `ModelRunner` over llama.cpp: one context with a unified KV cache, one reusable `llama_batch`
 * in C memory written through typed-array views. `llama_decode` runs synchronously on the calling
 * thread by default, blocking the event loop for the step (the engine loop yields between steps and
 * serving runs the engine in its own process); `EngineConfig.syncDecode: false` runs it on koffi's
 * worker thread instead, off the event loop.
 *
 * Every batch is validated here before it reaches llama.cpp, because a GGML_ASSERT aborts the process.
 * @module
 */
import type { Bindings, ContextPtr, MemoryPtr, RawBatch, ThreadpoolPtr } from "../../native/bindings.js";
import type { MemoryOp } from "../kv/kv-manager.js";
import { MAX_SEQ_LABELS } from "../kv/kv-manager.js";
import type { EngineConfig, ModelInfo, TokenId } from "../types.js";
import { loadModel, type LoadedModel } from "./llama-model.js";
import { LlamaVocab } from "./llama-vocab.js";
import type { BatchItem, ModelRunner, VisionRunner } from "./model-runner.js";
import { finalizeEngineConfig } from "../config.js";
import type { GrammarConstraint } from "../sample/grammar.js";
import type { SamplerPtr } from "../../native/bindings.js";
import { getMtmdBindings, installMtmdLog, VisionEncoder } from "../../native/mtmd.js";
import { ensureLibmtmd } from "../../native/mtmd-build.js";
import { allocBytes, readPointers, viewFloat32, viewInt8, viewInt32 } from "../../native/views.js";

const FLASH_ATTN = { auto: -1, off: 0, on: 1 } as const;

export class LlamaRunner implements ModelRunner {
  readonly modelInfo: ModelInfo;
  /** The configuration with model-dependent defaults filled in. */
  readonly config: EngineConfig;
  vision: VisionRunner | undefined = undefined;
  #encoder: VisionEncoder | null = null;
  readonly numKvCells: number;
  readonly maxBatchTokens: number;
  readonly #m: LoadedModel;
  readonly #b: Bindings;
  readonly #ctx: ContextPtr;
  /** ggml's persistent CPU threadpool for this context (null: llama.cpp's per-decode threads). */
  readonly #threadpool: ThreadpoolPtr | null = null;
  readonly #mem: MemoryPtr;
  readonly #tokenBatch: BatchBuffer;
  #embd: BatchBuffer | null = null;
  /** Tokenizer over the loaded model's vocabulary. */
  readonly vocab: LlamaVocab;
  #logitsView: { ptr: bigint; rows: number; data: Float32Array } | null = null;
  #candidates: TokenCandidates | null = null;
  #busy = false;
  #closed = false;

  /** Loads the model, and the vision projector when `config.mmproj` is set (building libmtmd on first use). */
  static async create(config: EngineConfig, warn: (message: string) => void = () => {}): Promise<LlamaRunner> {
    const runner = new LlamaRunner(config);
    if (config.mmproj) {
      try {
        await runner.#attachVision(config.mmproj, warn);
      } catch (err) {
        const reason = err instanceof Error ? err.message : String(err);
        if (config.mmprojOptional) {
          warn(`image input is off: the vision projector could not be loaded (${reason})`);
        } else {
          runner.close();
          throw err;
        }
      }
    }
    return runner;
  }

  async #attachVision(mmproj: string, warn: (message: string) => void): Promise<void> {
    const device = this.config.device;
    const libmtmd = await ensureLibmtmd(device);
    // mtmd logs each encode at info level; keep warnings and errors only.
    installMtmdLog(getMtmdBindings(libmtmd, device), (level, msg) => (level === "warn" || level === "error") && warn(msg), 3);
    const enc = await VisionEncoder.create(mmproj, this.#m.model, this.config.threads, { device, libmtmd });
    this.#encoder = enc;
    const placeholder = this.tokenize("<|patch|>", false, true);
    if (placeholder.length !== 1) throw new Error("the model's vocabulary has no <|patch|> token for image embeddings");
    this.vision = {
      placeholderTokenId: placeholder[0]!,
      embeddingsPerTile: enc.tokensPerTile,
      embdSize: enc.nEmbd,
      tileSize: enc.tileSize,
      encodeTile: (rgb) => enc.encodeTile(rgb, enc.tileSize),
    };
    this.modelInfo.vision = {
      placeholderTokenId: placeholder[0]!,
      embeddingsPerTile: enc.tokensPerTile,
      tileSize: enc.tileSize,
      mmproj,
    };
  }

  private constructor(requested: EngineConfig) {
    this.#m = loadModel(requested.model, requested.device, requested.nGpuLayers, requested.loadMode);
    this.#b = this.#m.b;
    this.modelInfo = this.#m.info;
    this.vocab = new LlamaVocab(this.#b, this.#m.vocab, requested.model);
    this.vocab.buildPieceTableSync(); // every token's piece, once (41 ms for Llama 4's 202k)
    const config = finalizeEngineConfig(requested, this.modelInfo.contextTrainLength);
    this.config = config;
    const b = this.#b;
    const cp = b.contextDefaultParams();
    Object.assign(cp, {
      n_ctx: config.kvCacheTokens,
      n_batch: config.maxNumBatchedTokens,
      n_ubatch: Math.min(512, config.maxNumBatchedTokens),
      n_seq_max: Math.min(MAX_SEQ_LABELS, Math.max(1, config.maxNumSeqs)),
      n_threads: config.threads,
      n_threads_batch: config.threads,
      kv_unified: true,
      // Full-size SWA cache: cached prefixes of chunked-attention layers (Llama 4) stay reusable.
      swa_full: true,
      flash_attn_type: FLASH_ATTN[config.flashAttn],
      no_perf: true,
    });
    const ctx = b.initFromModel(this.#m.model, cp);
    if (!ctx) {
      b.modelFree(this.#m.model);
      throw new Error(`llama.cpp could not create a context of ${config.kvCacheTokens} tokens (out of memory?)`);
    }
    this.#ctx = ctx;
    // One persistent pool for single-token and batch graphs (same thread count), as llama-server, whose
    // idle workers sleep at once (poll 0): between decodes the engine samples and hands tokens to the API
    // process, and a spinning worker would take their core. Numbers: docs/performance.md#ggml-threadpool.
    this.#threadpool = b.threadpool?.create(config.threads, THREADPOOL_POLL) ?? null;
    if (this.#threadpool) b.attachThreadpool(ctx, this.#threadpool, this.#threadpool);
    this.#mem = b.getMemory(ctx);
    this.numKvCells = b.nCtx(ctx);
    this.maxBatchTokens = b.nBatch(ctx);
    this.#tokenBatch = new BatchBuffer(b, this.maxBatchTokens, 0);
  }

  async execute(items: readonly BatchItem[], memoryOps: readonly MemoryOp[]): Promise<Float32Array[]> {
    if (this.#closed) throw new Error("runner is closed");
    if (this.#busy) throw new Error("one decode at a time per llama.cpp context");
    for (const op of memoryOps) this.#applyMemoryOp(op);
    if (items.length === 0) return [];
    // llama.cpp takes tokens or embeddings per batch: image chunks go first, in their own decode.
    const imageItems = items.filter((it) => it.embeddings !== undefined);
    const textItems = imageItems.length === 0 ? items : items.filter((it) => it.embeddings === undefined);
    const rowsByItem = new Map<BatchItem, Float32Array>();
    if (imageItems.length > 0) {
      const rows = await this.#decode(this.#embdBatch(), imageItems);
      // The next decode overwrites the logits buffer: keep copies.
      imageItems.filter((it) => it.needsLogits).forEach((it, i) => rowsByItem.set(it, rows[i]!.slice()));
    }
    if (textItems.length > 0) {
      const rows = await this.#decode(this.#tokenBatch, textItems);
      textItems.filter((it) => it.needsLogits).forEach((it, i) => rowsByItem.set(it, rows[i]!));
    }
    return items.filter((it) => it.needsLogits).map((it) => rowsByItem.get(it)!);
  }

  async #decode(batch: BatchBuffer, items: readonly BatchItem[]): Promise<Float32Array[]> {
    const numOutputs = this.#fillBatch(batch, items);
    this.#busy = true;
    let rc: number;
    try {
      rc = (this.config.syncDecode ?? true) ? this.#b.decode(this.#ctx, batch.raw) : await this.#b.decodeAsync(this.#ctx, batch.raw);
    } finally {
      this.#busy = false;
    }
    if (rc !== 0) throw new Error(`llama_decode failed with code ${rc}${rc === 1 ? " (no KV slot for the batch)" : ""}`);
    return this.#logitRows(numOutputs);
  }

  /** The embeddings batch, made on first use (only multimodal requests need it). */
  #embdBatch(): BatchBuffer {
    const width = this.vision?.embdSize;
    if (!width) throw new Error("embeddings given, but the model has no vision projector");
    this.#embd ??= new BatchBuffer(this.#b, this.maxBatchTokens, width);
    return this.#embd;
  }

  #applyMemoryOp(op: MemoryOp): void {
    if (op.op === "copy") this.#b.memorySeqCp(this.#mem, op.src, op.dst, 0, op.numTokens);
    else this.#b.memorySeqRm(this.#mem, op.seq, op.fromPos, -1);
  }

  /** Writes the batch into C memory after checking everything llama.cpp would assert on. */
  #fillBatch(batch: BatchBuffer, items: readonly BatchItem[]): number {
    const vocabSize = this.modelInfo.vocabSize;
    let n = 0;
    let numOutputs = 0;
    for (const item of items) {
      if (item.seqId < 0 || item.seqId >= MAX_SEQ_LABELS) throw new Error(`seq id ${item.seqId} out of range`);
      if (item.tokens.length === 0) throw new Error("empty batch item");
      const posMax = this.#b.memorySeqPosMax(this.#mem, item.seqId);
      if (item.startPos !== posMax + 1) {
        throw new Error(`batch position gap for seq ${item.seqId}: starts at ${item.startPos}, KV ends at ${posMax}`);
      }
      if (n + item.tokens.length > this.maxBatchTokens)
        throw new Error(`batch of ${n + item.tokens.length} tokens exceeds n_batch ${this.maxBatchTokens}`);
      if (batch.embd) {
        const e = item.embeddings;
        if (!e || e.length !== item.tokens.length * batch.embdWidth)
          throw new Error(`item needs ${item.tokens.length} × ${batch.embdWidth} embedding floats`);
        batch.embd.set(e, n * batch.embdWidth);
      }
      for (let k = 0; k < item.tokens.length; k++, n++) {
        if (!batch.embd) {
          const t = item.tokens[k]!;
          if (!Number.isInteger(t) || t < 0 || t >= vocabSize)
            throw new Error(`token id ${t} outside the vocabulary (0..${vocabSize - 1})`);
          batch.token![n] = t;
        }
        batch.pos[n] = item.startPos + k;
        batch.nSeqId[n] = 1;
        batch.seqId[n]![0] = item.seqId;
        const last = k === item.tokens.length - 1 && item.needsLogits;
        batch.logits[n] = last ? 1 : 0;
        if (last) numOutputs++;
      }
    }
    batch.raw.n_tokens = n;
    return numOutputs;
  }

  /** Rows of `llama_get_logits`, in output order; one view per step (re-viewed only when it moves or grows). */
  #logitRows(numOutputs: number): Float32Array[] {
    if (numOutputs === 0) return [];
    const ptr = this.#b.getLogits(this.#ctx);
    if (!ptr) throw new Error("llama_get_logits returned NULL");
    const vocab = this.modelInfo.vocabSize;
    const view = this.#logitsView;
    if (!view || view.ptr !== ptr || view.rows < numOutputs) {
      const rows = Math.max(numOutputs, view?.ptr === ptr ? view.rows : 0);
      this.#logitsView = { ptr, rows, data: viewFloat32(ptr, rows * vocab) };
    }
    const data = this.#logitsView!.data;
    const out: Float32Array[] = new Array(numOutputs);
    for (let i = 0; i < numOutputs; i++) out[i] = data.subarray(i * vocab, (i + 1) * vocab);
    return out;
  }

  tokenize(text: string, addSpecial: boolean, parseSpecial: boolean, maxTokens?: number): TokenId[] {
    return this.vocab.tokenize(text, addSpecial, parseSpecial, maxTokens);
  }

  tokenizeAsync(text: string, opts: { addSpecial: boolean; parseSpecial: boolean; maxTokens?: number }): Promise<TokenId[]> {
    return this.vocab.tokenizeAsync(text, opts);
  }

  pieceOf(tokenId: TokenId, special = false): Uint8Array {
    return this.vocab.pieceOf(tokenId, special);
  }

  detokenize(tokenIds: readonly TokenId[], special: boolean): string {
    return this.vocab.detokenize(tokenIds, special);
  }

  /** Test hook: hands llama.cpp a well-formed batch larger than n_batch, which trips a GGML_ASSERT and aborts the process. */
  crashForTest(): void {
    const n = this.maxBatchTokens + 1;
    const batch = this.#b.batchInit(n, 0, 1);
    const token = viewInt32(batch.token, n);
    const pos = viewInt32(batch.pos, n);
    const nSeq = viewInt32(batch.n_seq_id, n);
    const seqPtrs = readPointers(batch.seq_id, n);
    for (let i = 0; i < n; i++) {
      token[i] = 0;
      pos[i] = i;
      nSeq[i] = 1;
      viewInt32(seqPtrs[i]!, 1)[0] = MAX_SEQ_LABELS - 1;
    }
    batch.n_tokens = n;
    this.#b.decode(this.#ctx, batch);
  }

  /**
   * Compiles a GBNF grammar for this model's vocabulary (start symbol `root`). Throws when
   * llama.cpp cannot parse it.
   */
  createGrammar(gbnf: string): GrammarConstraint {
    const sampler = this.#b.samplerInitGrammar(this.#m.vocab, gbnf, "root");
    if (!sampler) throw new Error("the grammar could not be parsed (llama.cpp GBNF)");
    this.#candidates ??= new TokenCandidates(this.modelInfo.vocabSize);
    return new LlamaGrammar(this.#b, sampler, this.#candidates);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    void this.#encoder?.dispose();
    this.#tokenBatch.free();
    this.#embd?.free();
    this.#b.free(this.#ctx);
    if (this.#threadpool) this.#b.threadpool?.free(this.#threadpool);
    // The vocabulary lives in the model: freed once no tokenize call is running on a worker thread.
    this.vocab.close(() => this.#b.modelFree(this.#m.model));
  }
}

/** ggml's polling level for idle threadpool workers (0 = sleep at once; see the constructor). */
const THREADPOOL_POLL = 0;

/** One C array of `llama_token_data` for the whole vocabulary, shared by a runner's grammars (sampling is synchronous). */
class TokenCandidates {
  readonly ptr: bigint;
  readonly ids: Int32Array;
  readonly logits: Float32Array;

  constructor(readonly vocabSize: number) {
    const { ptr, buffer } = allocBytes(vocabSize * 12);
    this.ptr = ptr;
    this.ids = new Int32Array(buffer);
    this.logits = new Float32Array(buffer);
  }
}

class LlamaGrammar implements GrammarConstraint {
  #sampler: SamplerPtr | null;

  constructor(
    readonly b: Bindings,
    sampler: SamplerPtr,
    readonly cand: TokenCandidates,
  ) {
    this.#sampler = sampler;
  }

  #apply(size: number): void {
    if (!this.#sampler) throw new Error("grammar disposed");
    this.b.samplerApply(this.#sampler, { data: this.cand.ptr, size, selected: -1, sorted: false });
  }

  allows(tokenId: TokenId): boolean {
    this.cand.ids[0] = tokenId;
    this.cand.logits[1] = 0;
    this.cand.logits[2] = 0;
    this.#apply(1);
    return this.cand.logits[1] !== Number.NEGATIVE_INFINITY;
  }

  mask(logits: Float32Array): void {
    const n = logits.length;
    const { ids, logits: l } = this.cand;
    for (let i = 0; i < n; i++) {
      ids[3 * i] = i;
      l[3 * i + 1] = 0;
      l[3 * i + 2] = 0;
    }
    this.#apply(n);
    for (let i = 0; i < n; i++) if (l[3 * i + 1] === Number.NEGATIVE_INFINITY) logits[i] = Number.NEGATIVE_INFINITY;
  }

  filter(ids: Int32Array, count: number): number {
    const { ids: cids, logits: l } = this.cand;
    for (let i = 0; i < count; i++) {
      cids[3 * i] = ids[i]!;
      l[3 * i + 1] = 0;
      l[3 * i + 2] = 0;
    }
    this.#apply(count);
    let kept = 0;
    for (let i = 0; i < count; i++) if (l[3 * i + 1] !== Number.NEGATIVE_INFINITY) ids[kept++] = cids[3 * i]!;
    return kept;
  }

  accept(tokenId: TokenId): void {
    if (this.#sampler) this.b.samplerAccept(this.#sampler, tokenId);
  }

  dispose(): void {
    if (this.#sampler) this.b.samplerFree(this.#sampler);
    this.#sampler = null;
  }
}

/** A `llama_batch` in C memory (from `llama_batch_init`) with typed-array views over its arrays. */
class BatchBuffer {
  readonly raw: RawBatch;
  readonly token: Int32Array | null;
  readonly embd: Float32Array | null;
  readonly pos: Int32Array;
  readonly nSeqId: Int32Array;
  readonly seqId: Int32Array[];
  readonly logits: Int8Array;

  /** `embdWidth` 0: a token batch; else an embeddings batch of that width. */
  constructor(
    readonly b: Bindings,
    readonly capacity: number,
    readonly embdWidth: number,
  ) {
    const raw = b.batchInit(capacity, embdWidth, 1);
    this.raw = raw;
    this.token = embdWidth === 0 ? viewInt32(raw.token, capacity) : null;
    this.embd = embdWidth > 0 ? viewFloat32(raw.embd, capacity * embdWidth) : null;
    this.pos = viewInt32(raw.pos, capacity);
    this.nSeqId = viewInt32(raw.n_seq_id, capacity);
    this.logits = viewInt8(raw.logits, capacity);
    this.seqId = readPointers(raw.seq_id, capacity).map((p) => viewInt32(p, 1));
  }

  free(): void {
    this.raw.n_tokens = this.capacity;
    this.b.batchFree(this.raw);
  }
}
