/**
 * libmtmd (llama.cpp's multimodal library) over koffi, and `VisionEncoder`: Llama 4 image tiles in,
 * projected embeddings (one `n_embd` row per `<|patch|>` token) out.
 *
 * The tiling stays ours (HF's exact Llama 4 tiling, done in TypeScript), not llama.cpp's llava-uhd
 * slicing (capped at 3×3): each tile is handed to mtmd as its own bitmap of exactly the projector's
 * `image_size`, for which mtmd's llama4 preprocessor makes a single overview image, copied without
 * resizing and normalised with the mmproj's mean/std, and `mtmd_encode_chunk` runs the ViT, pixel
 * shuffle, adapter and projector on it.
 *
 * Token order: llama.cpp's Llama 4 pixel shuffle (tools/mtmd/models/llama4.cpp) leaves out the second
 * of HF's two `permute(0, 2, 1, 3)` (its line is commented out), so it emits the 12×12 merged patches
 * column by column; HF and Meta emit them row by row (`<|patch|>` i = merged patch (i / 12, i % 12)).
 * The channels inside each embedding agree. `VisionEncoder` transposes the rows back to HF's order
 * (`tokenOrder: "hf"`, the default); `"llama.cpp"` keeps mtmd's order.
 *
 * Struct layouts follow `tools/mtmd/mtmd.h` of the llama.cpp bundled with node-llama-cpp 3.21.1
 * (release v0.4.0); `checkMtmdAbi()` verifies them against the loaded library. libmtmd itself is built
 * on first use by `ensureLibmtmd()` (mtmd-build.ts).
 * @module
 */
import { join } from "node:path";
import koffi from "koffi";
import { AbiMismatchError } from "./abi-check.js";
import type { ModelPtr } from "./bindings.js";
import { loadLibraries, type DeviceKind } from "./library.js";
import { logLineCallback, type GgmlLogLevel, type LogSink } from "./log.js";
import { ensureLibmtmd, type LibmtmdOptions } from "./mtmd-build.js";

export type MtmdContextPtr = bigint & { readonly __mtmdContext: never };
export type MtmdBitmapPtr = bigint & { readonly __mtmdBitmap: never };
export type MtmdChunksPtr = bigint & { readonly __mtmdChunks: never };
export type MtmdChunkPtr = bigint & { readonly __mtmdChunk: never };

/** `enum mtmd_input_chunk_type`. */
export const MtmdChunkType = { TEXT: 0, IMAGE: 1, AUDIO: 2 } as const;

/** `struct mtmd_context_params` (function pointers and the device as raw addresses). */
export interface MtmdContextParams {
  use_gpu: boolean;
  device: bigint | null;
  print_timings: boolean;
  n_threads: number;
  image_marker: string | null;
  media_marker: string | null;
  flash_attn_type: number;
  warmup: boolean;
  image_min_tokens: number;
  image_max_tokens: number;
  cb_eval: bigint | null;
  cb_eval_user_data: bigint | null;
  batch_max_tokens: number;
  progress_callback: bigint | null;
  progress_callback_user_data: bigint | null;
}
/** `struct mtmd_input_text`. */
export interface MtmdInputText {
  text: string;
  text_len: number;
  add_special: boolean;
  parse_special: boolean;
}

// Anonymous koffi types: no process-wide names that could clash with bindings.ts.
const CONTEXT_PARAMS = koffi.struct({
  use_gpu: "bool",
  device: "void *",
  print_timings: "bool",
  n_threads: "int",
  image_marker: "const char *",
  media_marker: "const char *",
  flash_attn_type: "int",
  warmup: "bool",
  image_min_tokens: "int",
  image_max_tokens: "int",
  cb_eval: "void *",
  cb_eval_user_data: "void *",
  batch_max_tokens: "int32_t",
  progress_callback: "void *",
  progress_callback_user_data: "void *",
});
const INPUT_TEXT = koffi.struct({ text: "const char *", text_len: "size_t", add_special: "bool", parse_special: "bool" });
const GGUF_INIT_PARAMS = koffi.struct({ no_alloc: "bool", ctx: "void *" });
const LOG_CB = koffi.proto("void", ["int", "const char *", "void *"]);

/** Sizes (bytes) of the mtmd structs on x86-64 for llama.cpp v0.4.0. */
export const EXPECTED_MTMD_STRUCT_SIZES = { mtmd_context_params: 96, mtmd_input_text: 24 } as const;
const sizeofMtmdStruct = (name: keyof typeof EXPECTED_MTMD_STRUCT_SIZES): number =>
  koffi.sizeof(name === "mtmd_context_params" ? CONTEXT_PARAMS : INPUT_TEXT);

function bind(libmtmd: string, device: DeviceKind) {
  const { llama, files } = loadLibraries(device);
  const lib = koffi.load(libmtmd);
  const ggmlBase = koffi.load(join(files.binDir, "libggml-base.so"));
  const f = (sig: string) => lib.func(sig);
  const encodeChunkFn = lib.func("int32_t mtmd_encode_chunk(void *ctx, void *chunk)");
  return {
    libmtmd,
    device,
    contextParamsDefault: lib.func("mtmd_context_params_default", CONTEXT_PARAMS, []) as () => MtmdContextParams,
    initFromFile: lib.func("mtmd_init_from_file", "void *", ["const char *", "void *", CONTEXT_PARAMS]) as (
      mmproj: string,
      model: ModelPtr | null,
      p: MtmdContextParams,
    ) => MtmdContextPtr | null,
    free: f("void mtmd_free(void *ctx)") as (c: MtmdContextPtr) => void,
    defaultMarker: f("const char *mtmd_default_marker(void)") as () => string,
    supportVision: f("bool mtmd_support_vision(void *ctx)") as (c: MtmdContextPtr) => boolean,
    /** `data` null makes a placeholder bitmap (counts tokens, cannot be encoded). */
    bitmapInit: f("void *mtmd_bitmap_init(uint32_t nx, uint32_t ny, const uint8_t *data)") as (
      nx: number,
      ny: number,
      data: Uint8Array | null,
    ) => MtmdBitmapPtr | null,
    bitmapFree: f("void mtmd_bitmap_free(void *bitmap)") as (b: MtmdBitmapPtr) => void,
    inputChunksInit: f("void *mtmd_input_chunks_init(void)") as () => MtmdChunksPtr,
    inputChunksSize: f("size_t mtmd_input_chunks_size(void *chunks)") as (c: MtmdChunksPtr) => number,
    inputChunksGet: f("void *mtmd_input_chunks_get(void *chunks, size_t idx)") as (c: MtmdChunksPtr, i: number) => MtmdChunkPtr,
    inputChunksFree: f("void mtmd_input_chunks_free(void *chunks)") as (c: MtmdChunksPtr) => void,
    chunkGetType: f("int mtmd_input_chunk_get_type(void *chunk)") as (c: MtmdChunkPtr) => number,
    chunkGetNTokens: f("size_t mtmd_input_chunk_get_n_tokens(void *chunk)") as (c: MtmdChunkPtr) => number,
    /** `n_out` is a 1-element BigUint64Array that receives the token count. */
    chunkGetTokensText: f("const int32_t *mtmd_input_chunk_get_tokens_text(void *chunk, void *n_out)") as (
      c: MtmdChunkPtr,
      nOut: BigUint64Array,
    ) => bigint | null,
    /** `bitmaps` holds the bitmap addresses (a BigUint64Array is passed as `const mtmd_bitmap **`). */
    tokenize: lib.func("mtmd_tokenize", "int32_t", ["void *", "void *", koffi.pointer(INPUT_TEXT), "void *", "size_t"]) as (
      c: MtmdContextPtr,
      out: MtmdChunksPtr,
      text: MtmdInputText,
      bitmaps: BigUint64Array,
      n: number,
    ) => number,
    encodeChunk: encodeChunkFn as (c: MtmdContextPtr, chunk: MtmdChunkPtr) => number,
    /** `mtmd_encode_chunk` on koffi's worker thread, so the event loop stays responsive. */
    encodeChunkAsync: (c: MtmdContextPtr, chunk: MtmdChunkPtr): Promise<number> =>
      new Promise((resolve, reject) => encodeChunkFn.async(c, chunk, (err: unknown, rc: number) => (err ? reject(err) : resolve(rc)))),
    /** n_tokens × n_embd floats of the last `mtmd_encode_chunk`, owned by the context. */
    getOutputEmbd: f("float *mtmd_get_output_embd(void *ctx)") as (c: MtmdContextPtr) => bigint | null,
    logSet: lib.func("mtmd_log_set", "void", [koffi.pointer(LOG_CB), "void *"]) as (cb: bigint | null, ud: null) => void,
    /** Width the projector must produce: the text model's input embedding size. */
    modelNEmbdInp: llama.func("int32_t llama_model_n_embd_inp(void *model)") as (m: ModelPtr) => number,
    ggufInitFromFile: ggmlBase.func("gguf_init_from_file", "void *", ["const char *", GGUF_INIT_PARAMS]) as (
      path: string,
      p: { no_alloc: boolean; ctx: null },
    ) => bigint | null,
    ggufFindKey: ggmlBase.func("int64_t gguf_find_key(void *ctx, const char *key)") as (g: bigint, key: string) => number | bigint,
    ggufGetKvType: ggmlBase.func("int gguf_get_kv_type(void *ctx, int64_t key_id)") as (g: bigint, id: number) => number,
    ggufGetValU32: ggmlBase.func("uint32_t gguf_get_val_u32(void *ctx, int64_t key_id)") as (g: bigint, id: number) => number,
    ggufGetValStr: ggmlBase.func("const char *gguf_get_val_str(void *ctx, int64_t key_id)") as (g: bigint, id: number) => string,
    ggufFree: ggmlBase.func("void gguf_free(void *ctx)") as (g: bigint) => void,
    /** ABI canary: a struct-returning function takes a hidden out-pointer (x86-64 SysV, > 16 bytes). */
    rawContextParamsDefault: f("void *mtmd_context_params_default(_Inout_ uint8_t *out)") as (out: Uint8Array) => unknown,
  };
}

export type MtmdBindings = ReturnType<typeof bind>;
let bindings: MtmdBindings | undefined;

/**
 * The process-wide libmtmd binding (one library per process, loaded next to the device's libllama).
 * Checks the ABI on first load.
 */
export function getMtmdBindings(libmtmd: string, device: DeviceKind = "cpu"): MtmdBindings {
  if (!bindings) {
    const b = bind(libmtmd, device);
    checkMtmdAbi(b);
    bindings = b;
  }
  if (bindings.libmtmd !== libmtmd || bindings.device !== device) {
    throw new Error(`libmtmd is already loaded from ${bindings.libmtmd} (${bindings.device}); one per process`);
  }
  return bindings;
}

/** Throws `AbiMismatchError` when our mtmd struct declarations disagree with the library. */
export function checkMtmdAbi(b: MtmdBindings): void {
  const problems: string[] = [];
  for (const [name, expected] of Object.entries(EXPECTED_MTMD_STRUCT_SIZES)) {
    const actual = sizeofMtmdStruct(name as keyof typeof EXPECTED_MTMD_STRUCT_SIZES);
    if (actual !== expected) problems.push(`${name}: declared ${actual} bytes, expected ${expected}`);
  }
  const buf = new Uint8Array(512).fill(0xa5);
  b.rawContextParamsDefault(buf);
  let written = 0;
  for (let i = 0; i < buf.length; i++) if (buf[i] !== 0xa5) written = i + 1;
  const declared = sizeofMtmdStruct("mtmd_context_params");
  if (written > declared || written < declared - 8)
    problems.push(`mtmd_context_params: the library writes ${written} bytes, our declaration has ${declared}`);
  const p = b.contextParamsDefault();
  if (
    p.n_threads !== 4 ||
    p.media_marker !== "<__media__>" ||
    p.image_marker !== null ||
    p.flash_attn_type !== -1 ||
    p.warmup !== true ||
    p.image_min_tokens !== -1 ||
    p.image_max_tokens !== -1 ||
    p.batch_max_tokens !== 1024
  ) {
    problems.push(
      "mtmd_context_params_default decoded unexpected defaults (" +
        JSON.stringify({
          ...p,
          device: null,
          cb_eval: null,
          cb_eval_user_data: null,
          progress_callback: null,
          progress_callback_user_data: null,
        }) +
        ")",
    );
  }
  if (problems.length > 0) {
    throw new AbiMismatchError(
      `libmtmd ABI mismatch with ${b.libmtmd} (herd is built for node-llama-cpp 3.21.1 / llama.cpp v0.4.0):\n  - ` +
        problems.join("\n  - ") +
        "\nRebuild libmtmd (delete the cache folder) or update src/native/mtmd.ts from the new mtmd.h.",
    );
  }
}

let registeredLog: bigint | undefined;

/**
 * Routes clip/mtmd log lines (a logger separate from llama_log_set) into `sink`, for lines at
 * `minLevel` or above (default warn). Process-wide; without it mtmd prints everything to stderr.
 */
export function installMtmdLog(b: MtmdBindings, sink: LogSink, minLevel: GgmlLogLevel = 3): void {
  const cb = logLineCallback(sink, minLevel);
  const previous = registeredLog;
  registeredLog = koffi.register(cb, koffi.pointer(LOG_CB));
  b.logSet(registeredLog, null);
  if (previous !== undefined) koffi.unregister(previous);
}

// ---------------------------------------------------------------------------------------------

/** What an mmproj GGUF says about its vision tower (`clip.*` keys). */
export interface MmprojInfo {
  readonly projectorType: string;
  /** Tile side in pixels. */
  readonly imageSize: number;
  readonly patchSize: number;
  /** Pixel-shuffle merge per side (`clip.vision.projector.scale_factor`). */
  readonly scaleFactor: number;
  /** Output width (`clip.vision.projection_dim`). */
  readonly projectionDim: number;
}

const GGUF_TYPE_UINT32 = 4;
const GGUF_TYPE_STRING = 8;

/** Reads the vision keys of an mmproj through ggml's own GGUF reader (header only). */
export function readMmprojInfo(b: MtmdBindings, path: string): MmprojInfo {
  const g = b.ggufInitFromFile(path, { no_alloc: true, ctx: null });
  if (!g) throw new Error(`${path} is not a readable GGUF file`);
  try {
    const key = (name: string, type: number): number => {
      const id = Number(b.ggufFindKey(g, name));
      if (id < 0) throw new Error(`${path} lacks ${name} (not an mmproj for a vision model?)`);
      if (b.ggufGetKvType(g, id) !== type) throw new Error(`${path}: ${name} has an unexpected type`);
      return id;
    };
    const u32 = (name: string, fallback?: number): number => {
      if (fallback !== undefined && Number(b.ggufFindKey(g, name)) < 0) return fallback;
      return b.ggufGetValU32(g, key(name, GGUF_TYPE_UINT32));
    };
    return {
      projectorType: b.ggufGetValStr(g, key("clip.projector_type", GGUF_TYPE_STRING)),
      imageSize: u32("clip.vision.image_size"),
      patchSize: u32("clip.vision.patch_size"),
      scaleFactor: u32("clip.vision.projector.scale_factor", 1),
      projectionDim: u32("clip.vision.projection_dim"),
    };
  } finally {
    b.ggufFree(g);
  }
}

export interface VisionEncoderOptions {
  /** Device package whose libraries the text model was loaded with. Defaults to `cpu`. */
  readonly device?: DeviceKind;
  /** A libmtmd.so to use; default: `ensureLibmtmd(device, build)` (built and cached on first use). */
  readonly libmtmd?: string;
  /** Options of the on-demand build. */
  readonly build?: LibmtmdOptions;
  /** Run the encoder on the device's GPU backend when it has one. Defaults to `true`. */
  readonly useGpu?: boolean;
  /** Run one encode at load so compute buffers are allocated up front. Defaults to `true`. */
  readonly warmup?: boolean;
  /** Row order of `encodeTile`'s output (see the module comment). Defaults to `"hf"`. */
  readonly tokenOrder?: "hf" | "llama.cpp";
}

/**
 * Reorders a tile's embeddings from llama.cpp's column-major merged-patch order to HF's row-major one:
 * row `r·grid + c` of the result is row `c·grid + r` of `src` (`grid` merged patches per side).
 */
export function llamaCppToHfOrder(src: Float32Array, grid: number, nEmbd: number): Float32Array {
  if (src.length !== grid * grid * nEmbd) throw new RangeError(`expected ${grid}×${grid}×${nEmbd} floats, got ${src.length}`);
  const out = new Float32Array(src.length);
  for (let r = 0; r < grid; r++) {
    for (let c = 0; c < grid; c++) out.set(src.subarray((c * grid + r) * nEmbd, (c * grid + r + 1) * nEmbd), (r * grid + c) * nEmbd);
  }
  return out;
}

/**
 * The Llama 4 vision tower of an mmproj, bound to a loaded text model. One encode at a time per
 * instance (mtmd keeps one output buffer per context): `encodeTileAsync` calls queue up, and
 * `encodeTile` refuses to run while one is in flight.
 */
export class VisionEncoder {
  readonly #b: MtmdBindings;
  #ctx: MtmdContextPtr | null;
  readonly #marker: string;
  #queue: Promise<unknown> = Promise.resolve();
  #inFlight = 0;

  /** Tile side in pixels that `encodeTile` takes (the mmproj's `image_size`; 336 for Llama 4). */
  readonly tileSize: number;
  /** Embeddings per tile (144 for Llama 4: 24×24 patches, 2×2 pixel shuffle). */
  readonly tokensPerTile: number;
  /** Floats per embedding: the text model's `n_embd_inp`. */
  readonly nEmbd: number;
  readonly info: MmprojInfo;
  readonly tokenOrder: "hf" | "llama.cpp";

  private constructor(
    b: MtmdBindings,
    ctx: MtmdContextPtr,
    info: MmprojInfo,
    nEmbd: number,
    tokensPerTile: number,
    tokenOrder: "hf" | "llama.cpp",
  ) {
    this.#b = b;
    this.tokenOrder = tokenOrder;
    this.#ctx = ctx;
    this.#marker = b.defaultMarker();
    this.info = info;
    this.tileSize = info.imageSize;
    this.nEmbd = nEmbd;
    this.tokensPerTile = tokensPerTile;
  }

  /**
   * Loads the vision tower of `mmprojPath` for the text model `model` (loaded through bindings.ts for
   * the same device), building libmtmd first when needed. Refuses projectors other than `llama4`
   * and towers whose width does not match the text model.
   */
  static async create(mmprojPath: string, model: ModelPtr, threads: number, options: VisionEncoderOptions = {}): Promise<VisionEncoder> {
    const device = options.device ?? "cpu";
    if (!Number.isInteger(threads) || threads < 1) throw new RangeError(`threads must be a positive integer, got ${threads}`);
    const lib = options.libmtmd ?? (await ensureLibmtmd(device, options.build));
    const b = getMtmdBindings(lib, device);
    const info = readMmprojInfo(b, mmprojPath);
    if (info.projectorType !== "llama4") {
      throw new Error(`${mmprojPath} has projector ${info.projectorType}; VisionEncoder handles Llama 4 (llama4) only`);
    }
    const nEmbd = b.modelNEmbdInp(model);
    if (info.projectionDim !== nEmbd) {
      throw new Error(
        `${mmprojPath} projects to ${info.projectionDim} but the text model's n_embd is ${nEmbd}: wrong mmproj for this model`,
      );
    }
    const params = b.contextParamsDefault();
    params.use_gpu = options.useGpu ?? true;
    params.print_timings = false;
    params.n_threads = threads;
    params.warmup = options.warmup ?? true;
    const ctx = b.initFromFile(mmprojPath, model, params);
    if (!ctx) throw new Error(`mtmd could not load ${mmprojPath} (see the mtmd log for the reason)`);
    try {
      if (!b.supportVision(ctx)) throw new Error(`${mmprojPath} has no vision encoder`);
      // Ask mtmd how many embeddings one tile gives, with a placeholder bitmap (nothing is encoded).
      const chunks = tokenizeTile(b, ctx, b.defaultMarker(), null, info.imageSize);
      try {
        const tokens = b.chunkGetNTokens(chunks.image);
        const expected = (info.imageSize / info.patchSize / info.scaleFactor) ** 2;
        if (tokens !== expected) throw new Error(`mtmd gives ${tokens} embeddings per ${info.imageSize}px tile, expected ${expected}`);
        return new VisionEncoder(b, ctx, info, nEmbd, tokens, options.tokenOrder ?? "hf");
      } finally {
        b.inputChunksFree(chunks.chunks);
      }
    } catch (e) {
      b.free(ctx);
      throw e;
    }
  }

  /**
   * Embeddings of one tile: `rgb` is `tileSize`×`tileSize` packed RGB (row-major, 3 bytes per pixel,
   * unnormalised); returns `tokensPerTile` × `nEmbd` floats, row i being the i-th `<|patch|>` of the
   * tile (merged patch (i / grid, i % grid), grid = √tokensPerTile, in the default HF order).
   */
  encodeTile(rgb: Uint8Array, tileSize: number): Float32Array {
    const ctx = this.#checkTile(rgb, tileSize);
    if (this.#inFlight > 0) throw new Error("VisionEncoder: an async encode is in flight; await it or use encodeTileAsync");
    const { chunks, image } = tokenizeTile(this.#b, ctx, this.#marker, rgb, tileSize);
    try {
      const rc = this.#b.encodeChunk(ctx, image);
      if (rc !== 0) throw new Error(`mtmd_encode_chunk failed (${rc})`);
      return this.#output(ctx);
    } finally {
      this.#b.inputChunksFree(chunks);
    }
  }

  /** `encodeTile` on a worker thread (queued behind earlier calls on this encoder). */
  encodeTileAsync(rgb: Uint8Array, tileSize: number): Promise<Float32Array> {
    try {
      this.#checkTile(rgb, tileSize);
    } catch (e) {
      return Promise.reject(e);
    }
    this.#inFlight++;
    const run = async (): Promise<Float32Array> => {
      const ctx = this.#checkTile(rgb, tileSize); // disposed meanwhile?
      const { chunks, image } = tokenizeTile(this.#b, ctx, this.#marker, rgb, tileSize);
      try {
        const rc = await this.#b.encodeChunkAsync(ctx, image);
        if (rc !== 0) throw new Error(`mtmd_encode_chunk failed (${rc})`);
        return this.#output(ctx);
      } finally {
        this.#b.inputChunksFree(chunks);
      }
    };
    const p = this.#queue.then(run, run).finally(() => this.#inFlight--);
    this.#queue = p.catch(() => {});
    return p;
  }

  /** Frees the mtmd context (after any queued async encodes). Idempotent. */
  async dispose(): Promise<void> {
    await this.#queue;
    if (this.#ctx) {
      this.#b.free(this.#ctx);
      this.#ctx = null;
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.dispose();
  }

  #checkTile(rgb: Uint8Array, tileSize: number): MtmdContextPtr {
    if (!this.#ctx) throw new Error("VisionEncoder is disposed");
    if (tileSize !== this.tileSize) {
      // mtmd would silently resize a smaller tile and slice a larger one (llava-uhd): never what we want.
      throw new RangeError(`tile size ${tileSize} does not match the mmproj's image_size ${this.tileSize}`);
    }
    if (rgb.length !== tileSize * tileSize * 3)
      throw new RangeError(`a ${tileSize}×${tileSize} RGB tile has ${tileSize * tileSize * 3} bytes, got ${rgb.length}`);
    return this.#ctx;
  }

  #output(ctx: MtmdContextPtr): Float32Array {
    const ptr = this.#b.getOutputEmbd(ctx);
    if (!ptr) throw new Error("mtmd_get_output_embd returned NULL");
    const raw = new Float32Array(koffi.view(ptr, this.tokensPerTile * this.nEmbd * 4));
    return this.tokenOrder === "hf" ? llamaCppToHfOrder(raw, Math.round(Math.sqrt(this.tokensPerTile)), this.nEmbd) : raw.slice();
  }
}

/**
 * Tokenizes the media marker with one `size`×`size` bitmap (`rgb` null: placeholder) and returns the
 * chunk list (caller frees) and its single image chunk (between the `<|image_start|>`/`<|image_end|>`
 * text chunks mtmd adds, which we ignore: the prompt is ours).
 */
function tokenizeTile(
  b: MtmdBindings,
  ctx: MtmdContextPtr,
  marker: string,
  rgb: Uint8Array | null,
  size: number,
): { chunks: MtmdChunksPtr; image: MtmdChunkPtr } {
  const bitmap = b.bitmapInit(size, size, rgb);
  if (!bitmap) throw new Error("mtmd_bitmap_init failed");
  const chunks = b.inputChunksInit();
  try {
    const text = { text: marker, text_len: Buffer.byteLength(marker), add_special: false, parse_special: true };
    const rc = b.tokenize(ctx, chunks, text, new BigUint64Array([bitmap]), 1);
    if (rc !== 0) throw new Error(`mtmd_tokenize failed (${rc})`);
    const images: MtmdChunkPtr[] = [];
    for (let i = 0; i < b.inputChunksSize(chunks); i++) {
      const c = b.inputChunksGet(chunks, i);
      if (b.chunkGetType(c) === MtmdChunkType.IMAGE) images.push(c);
    }
    if (images.length !== 1) throw new Error(`mtmd made ${images.length} image chunks of a ${size}px tile, expected 1`);
    return { chunks, image: images[0]! };
  } catch (e) {
    b.inputChunksFree(chunks);
    throw e;
  } finally {
    b.bitmapFree(bitmap);
  }
}
