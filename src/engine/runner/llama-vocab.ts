/**
 * A model's vocabulary through llama.cpp: tokenize, token pieces, detokenize. The runner uses it on
 * its loaded model; the child-process client loads the vocabulary alone (`vocab_only`, no weights)
 * so the API server tokenizes in its own process — as vLLM's API server does — instead of waiting for
 * the engine process between two decode steps.
 *
 * Tokenizing goes through `SafeTokenizer` (engine/tokenizer/): llama.cpp's own tokenizer for short
 * texts, and for long ones a split that never hands llama.cpp's regex a long run (which crashes it).
 * `tokenizeAsync` gives the event loop a turn every few milliseconds of that work.
 * @module
 */
import { existsSync } from "node:fs";
import { setImmediate as nextTurn } from "node:timers/promises";
import { readGgufTokenizer } from "../../model/gguf/gguf-tokenizer-reader.js";
import { checkAbi } from "../../native/abi-check.js";
import { getBindings, type Bindings, type ModelPtr, type VocabPtr } from "../../native/bindings.js";
import { installLlamaLog, type LogSink } from "../../native/log.js";
import { bpeTables, type BpeTables } from "../tokenizer/bpe.js";
import { SharedLoad } from "../tokenizer/shared-load.js";
import {
  type LongTextSupport,
  type RawCall,
  SafeTokenizer,
  type SafeTokenizeOptions,
  type SafeTokenizerLimits,
  type SpecialToken,
} from "../tokenizer/safe-tokenizer.js";
import type { TokenId } from "../types.js";

/** llama_vocab_type */
const VOCAB_TYPE_BPE = 2;
/** llama_token_attr bits */
const ATTR = { unknown: 1 << 0, control: 1 << 3, userDefined: 1 << 4, lstrip: 1 << 7, rstrip: 1 << 8 } as const;
/** `tokenizer.ggml.pre` values llama.cpp maps to LLAMA_VOCAB_PRE_TYPE_GPT4O. */
const GPT4O_PRE = new Set(["gpt-4o", "llama4", "kanana2", "talkie"]);
/**
 * Pre-tokenizers llama.cpp splits with its own linear code rather than `std::regex` (the GPT-2,
 * Llama 3 and Qwen 2 patterns: `unicode_regex_split_custom`): nothing to crash, so whole texts go to it.
 */
const LINEAR_SPLIT_PRE = new Set([
  "gpt-2",
  "llama3",
  "llama-v3",
  "llama-bpe",
  "falcon3",
  "falcon-h1",
  "pixtral",
  "midm-2.0",
  "lfm2",
  "qwen2",
  "deepseek-r1-qwen",
  "megrez",
]);
/** Time slice of tokenizing work between two turns of the event loop. */
const SLICE_MS = 8;

/**
 * Long tokenizations take turns, one at a time per process: several sliced jobs resumed in the same
 * turn of the event loop would each spend a slice before it polls for I/O again (seven hostile
 * prompts together held /health for 700 ms). Short texts never wait for this.
 */
let longJobs: Promise<void> = Promise.resolve();
function takeLongJobTurn(): Promise<() => void> {
  let release!: () => void;
  const mine = new Promise<void>((resolve) => (release = resolve));
  const turn = longJobs.then(() => release);
  longJobs = longJobs.then(() => mine);
  return turn;
}

export class LlamaVocab {
  readonly vocabSize: number;
  #pieceTable: { bytes: Uint8Array; offsets: Uint32Array } | null = null;
  readonly #specialPieces = new Map<number, Uint8Array>();
  /** Set when this object loaded the model itself (vocab-only) and must free it. */
  #owned: ModelPtr | null = null;
  #closed = false;
  #afterIdle: (() => void) | null = null;
  /** Calls running on a worker thread; the model is freed only once none is. */
  #inflight = 0;
  readonly #safe: SafeTokenizer;

  /** `ggufPath`: the model file, read for the tokenizer arrays when a long text needs them. */
  constructor(
    private readonly b: Bindings,
    private readonly vocab: VocabPtr,
    private readonly ggufPath: string | null = null,
    limits?: SafeTokenizerLimits,
  ) {
    this.vocabSize = b.vocabNTokens(vocab);
    this.#safe = new SafeTokenizer(
      { raw: (t, a, p) => this.llamaTokenize(t, a, p), longTextSupport: () => this.#longTextSupport() },
      limits,
    );
  }

  /**
   * Loads only the vocabulary of a GGUF (no tensors: 26 ms for stories260K, 0.7 s and a few MB for
   * Llama 4's 202k tokens) with the CPU build of the libraries, whatever device the engine uses.
   * llama.cpp's log goes to `log` (warnings and up).
   */
  static loadVocabOnly(path: string, log: LogSink, limits?: SafeTokenizerLimits): LlamaVocab {
    if (!existsSync(path)) throw new Error(`model file not found: ${path}`);
    const b = getBindings("cpu");
    checkAbi(b);
    installLlamaLog(b, log, 3);
    const params = b.modelDefaultParams();
    params.vocab_only = true;
    params.n_gpu_layers = 0;
    const model = b.modelLoadFromFile(path, params);
    if (!model) throw new Error(`llama.cpp could not read the vocabulary of ${path}`);
    const v = new LlamaVocab(b, b.modelGetVocab(model), path, limits);
    v.#owned = model;
    return v;
  }

  /** Tokenizes on the caller's stack to the end (the engine's own short texts, tests). */
  tokenize(text: string, addSpecial: boolean, parseSpecial: boolean, maxTokens?: number): TokenId[] {
    return this.#safe.tokenizeSync(text, { addSpecial, parseSpecial, maxTokens });
  }

  /** Tokenizes with a turn of the event loop every few milliseconds of work (long prompts). */
  async tokenizeAsync(text: string, opts: SafeTokenizeOptions): Promise<TokenId[]> {
    const gen = this.#safe.tokenize(text, opts);
    const first = gen.next();
    if (first.done) return first.value; // a short text: done at once, no turn taken
    return this.#drive(gen, first);
  }

  /**
   * Runs tokenizing work in its turn among long jobs: a turn of the event loop every `SLICE_MS`, raw
   * calls on a worker thread. `first`: a step the caller already took (before waiting for the turn).
   */
  async #drive<T>(
    gen: Generator<RawCall | undefined, T, TokenId[] | undefined>,
    first?: IteratorResult<RawCall | undefined, T>,
  ): Promise<T> {
    const release = await takeLongJobTurn();
    try {
      this.#checkOpen();
      let step = first ?? gen.next();
      let sliceStart = performance.now();
      for (;;) {
        if (step.done) return step.value;
        let reply: TokenId[] | undefined;
        if (step.value) {
          reply = await this.#llamaTokenizeAsync(step.value.text, step.value.addSpecial, step.value.parseSpecial);
          sliceStart = performance.now();
        } else if (performance.now() - sliceStart >= SLICE_MS) {
          await nextTurn();
          sliceStart = performance.now();
        }
        this.#checkOpen();
        step = gen.next(reply);
      }
    } finally {
      release();
    }
  }

  /** `llamaTokenize` on a worker thread: one call that may take long, off the event loop. */
  async #llamaTokenizeAsync(text: string, addSpecial: boolean, parseSpecial: boolean): Promise<TokenId[]> {
    const bytes = Buffer.from(text, "utf8");
    let out = new Int32Array(bytes.length + 8);
    const call = async (): Promise<number> => {
      this.#checkOpen();
      this.#inflight++;
      try {
        return await this.b.tokenizeAsync(this.vocab, bytes, bytes.length, out, out.length, addSpecial, parseSpecial);
      } finally {
        this.#inflight--;
        if (this.#closed) this.#freeIfIdle();
      }
    };
    let n = await call();
    if (n < 0) {
      if (n === -2147483648) throw new Error("text too long to tokenize");
      out = new Int32Array(-n);
      n = await call();
    }
    return Array.from(out.subarray(0, n));
  }

  /**
   * Loads what long texts need (the piece table, special tokens, the longest piece, the pre-tokenizer)
   * a slice at a time, so the first long prompt does not wait for it. Idempotent; failures surface on
   * first use.
   */
  async prepareLongTexts(): Promise<void> {
    await this.#drive(this.#safe.prepare());
  }

  /**
   * llama.cpp's llama_tokenize, unguarded: a long run in `text` crashes the process. For the pieces
   * the safe tokenizer hands it, and for tests that compare against llama.cpp itself.
   */
  llamaTokenize(text: string, addSpecial: boolean, parseSpecial: boolean): TokenId[] {
    this.#checkOpen();
    const bytes = Buffer.from(text, "utf8");
    let out = new Int32Array(Math.max(16, bytes.length + 8));
    let n = this.b.tokenize(this.vocab, bytes, bytes.length, out, out.length, addSpecial, parseSpecial);
    if (n < 0) {
      if (n === -2147483648) throw new Error("text too long to tokenize");
      out = new Int32Array(-n);
      n = this.b.tokenize(this.vocab, bytes, bytes.length, out, out.length, addSpecial, parseSpecial);
    }
    return Array.from(out.subarray(0, n));
  }

  /**
   * What long texts need: special tokens, BOS/EOS, the longest piece (from the piece table, which
   * this builds if nothing has yet, and the special tokens' text), the GGUF's BPE tables.
   */
  *#longTextSupport(): Generator<undefined, LongTextSupport> {
    const b = this.b;
    const v = this.vocab;
    const path = this.ggufPath !== null && existsSync(this.ggufPath) ? this.ggufPath : null;
    const keys = path !== null ? yield* readGgufTokenizer(path, false) : null;
    const bpe = b.vocabType(v) === VOCAB_TYPE_BPE;
    yield* this.buildPieceTable();
    const { offsets } = this.#pieceTable!;
    const specials: SpecialToken[] = [];
    let maxTokenBytes = 1;
    for (let id = 0; id < this.vocabSize; id++) {
      maxTokenBytes = Math.max(maxTokenBytes, offsets[id + 1]! - offsets[id]!);
      const attr = b.vocabGetAttr(v, id);
      if (attr & (ATTR.control | ATTR.userDefined | ATTR.unknown)) {
        const piece = this.pieceOf(id, true);
        maxTokenBytes = Math.max(maxTokenBytes, piece.length);
        specials.push({
          id,
          text: Buffer.from(piece).toString("utf8"),
          lstrip: (attr & ATTR.lstrip) !== 0,
          rstrip: (attr & ATTR.rstrip) !== 0,
          controlOrUnknown: (attr & (ATTR.control | ATTR.unknown)) !== 0,
        });
      }
      if ((id & 0x3fff) === 0) yield;
    }
    const gpt4o = bpe && keys !== null && keys.model === "gpt2" && keys.pre !== null && GPT4O_PRE.has(keys.pre);
    const tables = new SharedLoad<BpeTables>(function* () {
      const arrays = path !== null ? yield* readGgufTokenizer(path, true) : { tokens: [], merges: [] };
      return yield* bpeTables(arrays.tokens, arrays.merges);
    });
    return {
      splitter: gpt4o ? "gpt4o" : bpe && !(keys?.pre && LINEAR_SPLIT_PRE.has(keys.pre)) ? "bpe" : "other",
      specials,
      bos: b.vocabGetAddBos(v) ? b.vocabBos(v) : null,
      eos: b.vocabGetAddEos(v) ? b.vocabEos(v) : null,
      maxTokenBytes,
      bpeTables: () => tables.get(),
    };
  }

  /**
   * The UTF-8 bytes of one token (possibly part of a character). From the piece table once it is built
   * (`buildPieceTable`); special tokens rendered as text are cached apart (a few thousand at most).
   */
  pieceOf(tokenId: TokenId, special = false): Uint8Array {
    const table = this.#pieceTable;
    if (table && !(special && this.#specialText(tokenId)))
      return table.bytes.subarray(table.offsets[tokenId]!, table.offsets[tokenId + 1]!);
    if (special) {
      const hit = this.#specialPieces.get(tokenId);
      if (hit) return hit;
    }
    const piece = this.#piece(tokenId, special);
    if (special) this.#specialPieces.set(tokenId, piece);
    return piece;
  }

  /** Whether rendering special tokens changes this token's piece (control and similar tokens). */
  #specialText(tokenId: TokenId): boolean {
    return (this.b.vocabGetAttr(this.vocab, tokenId) & (ATTR.control | ATTR.unknown)) !== 0;
  }

  #piece(tokenId: TokenId, special: boolean): Uint8Array {
    this.#checkOpen();
    let buf = new Uint8Array(64);
    let n = this.b.tokenToPiece(this.vocab, tokenId, buf, buf.length, 0, special);
    if (n < 0) {
      buf = new Uint8Array(-n);
      n = this.b.tokenToPiece(this.vocab, tokenId, buf, buf.length, 0, special);
    }
    return buf.slice(0, Math.max(0, n));
  }

  /**
   * Builds the table of every token's piece: one byte array and offsets (Llama 4: 1.4 MB for 202k
   * tokens), instead of a cache that grew with every new token a model emitted (a Map entry and a
   * small array each: the engine's memory crept up for the whole of a 10-minute soak). A generator
   * that yields every 16k tokens; `buildPieceTableSync` runs it to the end.
   */
  *buildPieceTable(): Generator<undefined, void> {
    if (this.#pieceTable) return;
    const n = this.vocabSize;
    const offsets = new Uint32Array(n + 1);
    let bytes = new Uint8Array(Math.max(1024, n * 8));
    let at = 0;
    const buf = new Uint8Array(256);
    for (let id = 0; id < n; id++) {
      this.#checkOpen();
      let len = this.b.tokenToPiece(this.vocab, id, buf, buf.length, 0, false);
      let piece: Uint8Array = buf;
      if (len < 0) {
        piece = new Uint8Array(-len);
        len = this.b.tokenToPiece(this.vocab, id, piece, piece.length, 0, false);
      }
      len = Math.max(0, len);
      if (at + len > bytes.length) {
        const grown = new Uint8Array(Math.max(bytes.length * 2, at + len));
        grown.set(bytes.subarray(0, at));
        bytes = grown;
      }
      bytes.set(piece.subarray(0, len), at);
      offsets[id] = at;
      at += len;
      if ((id & 0x3fff) === 0x3fff) yield;
    }
    offsets[n] = at;
    this.#pieceTable = { bytes: bytes.slice(0, at), offsets };
  }

  buildPieceTableSync(): void {
    const gen = this.buildPieceTable();
    while (!gen.next().done) {}
  }

  detokenize(tokenIds: readonly TokenId[], special: boolean): string {
    const parts: Uint8Array[] = [];
    for (const t of tokenIds) {
      if (!Number.isInteger(t) || t < 0 || t >= this.vocabSize) throw new Error(`token id ${t} outside the vocabulary`);
      parts.push(this.pieceOf(t, special));
    }
    return Buffer.concat(parts).toString("utf8");
  }

  /**
   * Stops tokenizing work at its next slice and frees the vocabulary-only model this object loaded.
   * `thenFree` frees a model owned elsewhere (the runner's) on the same terms: at once, or when the
   * last call running on a worker thread returns.
   */
  close(thenFree?: () => void): void {
    this.#closed = true;
    if (thenFree) this.#afterIdle = thenFree;
    this.#freeIfIdle();
  }

  #freeIfIdle(): void {
    if (this.#inflight > 0) return;
    if (this.#owned) this.b.modelFree(this.#owned);
    this.#owned = null;
    const free = this.#afterIdle;
    this.#afterIdle = null;
    free?.();
  }

  /** After `close()`, work that was waiting for its next slice stops here instead of using freed memory. */
  #checkOpen(): void {
    if (this.#closed) throw new Error("the vocabulary is closed (the engine is shutting down)");
  }
}
