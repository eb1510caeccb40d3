/**
 * The whole llama.cpp C surface herd uses, as typed TypeScript functions over koffi.
 * Struct layouts follow `include/llama.h` of the llama.cpp bundled with node-llama-cpp 3.21.1
 * (release v0.4.0); `checkAbi()` verifies them against the loaded library at startup.
 *
 * Only `engine/runner/llama-runner.ts` and `engine/runner/llama-model.ts` import this module.
 * @module
 */
import koffi from "koffi";
import { loadLibraries, type DeviceKind } from "./library.js";

/** Native handles are BigInt addresses in koffi 3; branded so they cannot be mixed up. */
export type ModelPtr = bigint & { readonly __model: never };
export type ContextPtr = bigint & { readonly __context: never };
export type VocabPtr = bigint & { readonly __vocab: never };
export type MemoryPtr = bigint & { readonly __memory: never };
export type SamplerPtr = bigint & { readonly __sampler: never };
export type ThreadpoolPtr = bigint & { readonly __threadpool: never };

/** `llama_tokenize`'s arguments: vocab, UTF-8 text and its length, output buffer and its size, add_special, parse_special. */
type TokenizeArgs = [v: VocabPtr, text: Uint8Array, len: number, out: Int32Array, max: number, addSpecial: boolean, parseSpecial: boolean];

export interface ModelParams {
  n_gpu_layers: number;
  split_mode: number;
  main_gpu: number;
  load_mode: number;
  vocab_only: boolean;
  check_tensors: boolean;
  use_extra_bufts: boolean;
  [k: string]: unknown;
}
export interface ContextParams {
  n_ctx: number;
  n_batch: number;
  n_ubatch: number;
  n_seq_max: number;
  n_threads: number;
  n_threads_batch: number;
  flash_attn_type: number;
  type_k: number;
  type_v: number;
  kv_unified: boolean;
  swa_full: boolean;
  no_perf: boolean;
  embeddings: boolean;
  offload_kqv: boolean;
  [k: string]: unknown;
}
/** `llama_token_data_array`: `data` points at `size` × {int32 id, float logit, float p}. */
export interface TokenDataArray {
  data: bigint;
  size: number;
  selected: number | bigint;
  sorted: boolean;
}
export interface RawBatch {
  n_tokens: number;
  token: bigint;
  embd: bigint;
  pos: bigint;
  n_seq_id: bigint;
  seq_id: bigint;
  logits: bigint;
}

const MODEL_PARAMS = "llama_model_params";
const CONTEXT_PARAMS = "llama_context_params";
const BATCH = "llama_batch";
const QUANTIZE_PARAMS = "llama_model_quantize_params";

/** Expected sizes (bytes) of the by-value structs on x86-64 for llama.cpp v0.4.0. */
export const EXPECTED_STRUCT_SIZES = { [MODEL_PARAMS]: 80, [CONTEXT_PARAMS]: 160, [BATCH]: 56, [QUANTIZE_PARAMS]: 64 } as const;

function declareTypes(): void {
  for (const name of ["llama_model", "llama_context", "llama_vocab", "llama_memory_i", "llama_sampler"]) koffi.opaque(name);
  koffi.struct(MODEL_PARAMS, {
    devices: "void *",
    tensor_buft_overrides: "void *",
    n_gpu_layers: "int32_t",
    split_mode: "int32_t",
    load_mode: "int32_t",
    lazy_mode: "int32_t",
    main_gpu: "int32_t",
    tensor_split: "void *",
    progress_callback: "void *",
    progress_callback_user_data: "void *",
    kv_overrides: "void *",
    vocab_only: "bool",
    check_tensors: "bool",
    use_extra_bufts: "bool",
    no_host: "bool",
    no_alloc: "bool",
    load_mtp: "bool",
  });
  koffi.struct(CONTEXT_PARAMS, {
    n_ctx: "uint32_t",
    n_batch: "uint32_t",
    n_ubatch: "uint32_t",
    n_seq_max: "uint32_t",
    n_rs_seq: "uint32_t",
    n_outputs_max: "uint32_t",
    n_outputs_max_per_seq: "uint32_t",
    n_threads: "int32_t",
    n_threads_batch: "int32_t",
    ctx_type: "int32_t",
    rope_scaling_type: "int32_t",
    pooling_type: "int32_t",
    attention_type: "int32_t",
    flash_attn_type: "int32_t",
    rope_freq_base: "float",
    rope_freq_scale: "float",
    yarn_ext_factor: "float",
    yarn_attn_factor: "float",
    yarn_beta_fast: "float",
    yarn_beta_slow: "float",
    yarn_orig_ctx: "uint32_t",
    defrag_thold: "float",
    cb_eval: "void *",
    cb_eval_user_data: "void *",
    type_k: "int32_t",
    type_v: "int32_t",
    abort_callback: "void *",
    abort_callback_data: "void *",
    embeddings: "bool",
    offload_kqv: "bool",
    no_perf: "bool",
    op_offload: "bool",
    swa_full: "bool",
    kv_unified: "bool",
    samplers: "void *",
    n_samplers: "size_t",
    ctx_other: "void *",
  });
  koffi.struct(BATCH, {
    n_tokens: "int32_t",
    token: "void *",
    embd: "void *",
    pos: "void *",
    n_seq_id: "void *",
    seq_id: "void *",
    logits: "void *",
  });
  koffi.struct(QUANTIZE_PARAMS, {
    nthread: "int32_t",
    ftype: "int32_t",
    output_tensor_type: "int32_t",
    token_embedding_type: "int32_t",
    allow_requantize: "bool",
    quantize_output_tensor: "bool",
    only_copy: "bool",
    pure: "bool",
    keep_split: "bool",
    dry_run: "bool",
    imatrix: "void *",
    kv_overrides: "void *",
    tt_overrides: "void *",
    prune_layers: "void *",
    max_buf_size: "size_t",
  });
  koffi.struct("llama_token_data_array", { data: "void *", size: "size_t", selected: "int64_t", sorted: "bool" });
  koffi.proto("void herd_log_cb(int level, const char *text, void *user_data)");
  // ggml.h: GGML_MAX_N_THREADS = 512.
  koffi.struct("ggml_threadpool_params", {
    cpumask: koffi.array("bool", 512),
    n_threads: "int32_t",
    prio: "int32_t",
    poll: "uint32_t",
    strict_cpu: "bool",
    paused: "bool",
  });
  koffi.proto("void *herd_threadpool_new(ggml_threadpool_params *params)");
  koffi.proto("void herd_threadpool_free(void *threadpool)");
}

/**
 * A persistent ggml CPU threadpool, as llama.cpp's own tools attach one (`common_threadpools`). Without
 * it every `llama_decode` starts and joins its worker threads (ggml's "disposable threadpool"). `poll`
 * is ggml's polling level (0–100) for idle workers waiting for the next graph. The pool functions live
 * in the dynamically loaded CPU backend library, so they are looked up through the backend registry.
 * Null when there is no CPU backend.
 */
function threadpoolApi(ggml: ReturnType<typeof loadLibraries>["ggml"]) {
  const devByType = ggml.func("void *ggml_backend_dev_by_type(int type)");
  const devReg = ggml.func("void *ggml_backend_dev_backend_reg(void *dev)");
  const procAddress = ggml.func("void *ggml_backend_reg_get_proc_address(void *reg, const char *name)");
  const paramsInit = ggml.func("void ggml_threadpool_params_init(_Out_ ggml_threadpool_params *p, int n_threads)");
  const cpu = devByType(0 /* GGML_BACKEND_DEVICE_TYPE_CPU */);
  const reg = cpu ? devReg(cpu) : null;
  const newPtr = reg ? procAddress(reg, "ggml_threadpool_new") : null;
  const freePtr = reg ? procAddress(reg, "ggml_threadpool_free") : null;
  if (!newPtr || !freePtr) return null;
  return {
    create(nThreads: number, poll: number): ThreadpoolPtr | null {
      const params: Record<string, unknown> = {};
      paramsInit(params, nThreads);
      params.poll = poll;
      return (koffi.call(newPtr, "herd_threadpool_new", params) as ThreadpoolPtr | null) ?? null;
    },
    free(tp: ThreadpoolPtr): void {
      koffi.call(freePtr, "herd_threadpool_free", tp);
    },
  };
}

/** Builds the typed surface. Called once per process by `getBindings()`. */
function bind(device: DeviceKind) {
  const { llama, ggml, files } = loadLibraries(device);
  declareTypes();
  const f = (sig: string) => llama.func(sig);
  const decodeFn = f("int32_t llama_decode(llama_context *ctx, llama_batch batch)");
  const tokenizeFn = f(
    "int32_t llama_tokenize(const llama_vocab *vocab, const uint8_t *text, int32_t text_len, " +
      "_Out_ int32_t *tokens, int32_t n_tokens_max, bool add_special, bool parse_special)",
  );
  return {
    files,
    version: f("const char *llama_version(void)") as () => string,
    systemInfo: f("const char *llama_print_system_info(void)") as () => string,
    modelDefaultParams: f(`${MODEL_PARAMS} llama_model_default_params(void)`) as () => ModelParams,
    contextDefaultParams: f(`${CONTEXT_PARAMS} llama_context_default_params(void)`) as () => ContextParams,
    quantizeDefaultParams: f(`${QUANTIZE_PARAMS} llama_model_quantize_default_params(void)`) as () => Record<string, unknown>,
    modelLoadFromFile: f(`llama_model *llama_model_load_from_file(const char *path, ${MODEL_PARAMS} params)`) as (
      path: string,
      p: ModelParams,
    ) => ModelPtr | null,
    modelFree: f("void llama_model_free(llama_model *model)") as (m: ModelPtr) => void,
    initFromModel: f(`llama_context *llama_init_from_model(llama_model *model, ${CONTEXT_PARAMS} params)`) as (
      m: ModelPtr,
      p: ContextParams,
    ) => ContextPtr | null,
    free: f("void llama_free(llama_context *ctx)") as (c: ContextPtr) => void,
    nCtx: f("uint32_t llama_n_ctx(const llama_context *ctx)") as (c: ContextPtr) => number,
    nCtxSeq: f("uint32_t llama_n_ctx_seq(const llama_context *ctx)") as (c: ContextPtr) => number,
    nBatch: f("uint32_t llama_n_batch(const llama_context *ctx)") as (c: ContextPtr) => number,
    nUbatch: f("uint32_t llama_n_ubatch(const llama_context *ctx)") as (c: ContextPtr) => number,
    nSeqMax: f("uint32_t llama_n_seq_max(const llama_context *ctx)") as (c: ContextPtr) => number,
    modelGetVocab: f("const llama_vocab *llama_model_get_vocab(const llama_model *model)") as (m: ModelPtr) => VocabPtr,
    modelNCtxTrain: f("int32_t llama_model_n_ctx_train(const llama_model *model)") as (m: ModelPtr) => number,
    modelNSwa: f("int32_t llama_model_n_swa(const llama_model *model)") as (m: ModelPtr) => number,
    modelNEmbd: f("int32_t llama_model_n_embd(const llama_model *model)") as (m: ModelPtr) => number,
    modelNLayer: f("int32_t llama_model_n_layer(const llama_model *model)") as (m: ModelPtr) => number,
    modelNParams: f("uint64_t llama_model_n_params(const llama_model *model)") as (m: ModelPtr) => number | bigint,
    modelSize: f("uint64_t llama_model_size(const llama_model *model)") as (m: ModelPtr) => number | bigint,
    modelDesc: f("int32_t llama_model_desc(const llama_model *model, _Out_ uint8_t *buf, size_t buf_size)") as (
      m: ModelPtr,
      buf: Uint8Array,
      n: number,
    ) => number,
    modelChatTemplate: f("const char *llama_model_chat_template(const llama_model *model, const char *name)") as (
      m: ModelPtr,
      name: string | null,
    ) => string | null,
    modelMetaValStr: f(
      "int32_t llama_model_meta_val_str(const llama_model *model, const char *key, _Out_ uint8_t *buf, size_t buf_size)",
    ) as (m: ModelPtr, key: string, buf: Uint8Array, n: number) => number,
    getMemory: f("llama_memory_i *llama_get_memory(const llama_context *ctx)") as (c: ContextPtr) => MemoryPtr,
    memoryClear: f("void llama_memory_clear(llama_memory_i *mem, bool data)") as (m: MemoryPtr, data: boolean) => void,
    memorySeqRm: f("bool llama_memory_seq_rm(llama_memory_i *mem, int32_t seq, int32_t p0, int32_t p1)") as (
      m: MemoryPtr,
      s: number,
      p0: number,
      p1: number,
    ) => boolean,
    memorySeqCp: f("void llama_memory_seq_cp(llama_memory_i *mem, int32_t src, int32_t dst, int32_t p0, int32_t p1)") as (
      m: MemoryPtr,
      src: number,
      dst: number,
      p0: number,
      p1: number,
    ) => void,
    memorySeqPosMax: f("int32_t llama_memory_seq_pos_max(llama_memory_i *mem, int32_t seq)") as (m: MemoryPtr, s: number) => number,
    memorySeqPosMin: f("int32_t llama_memory_seq_pos_min(llama_memory_i *mem, int32_t seq)") as (m: MemoryPtr, s: number) => number,
    batchInit: f(`${BATCH} llama_batch_init(int32_t n_tokens, int32_t embd, int32_t n_seq_max)`) as (
      n: number,
      embd: number,
      nSeq: number,
    ) => RawBatch,
    batchFree: f(`void llama_batch_free(${BATCH} batch)`) as (b: RawBatch) => void,
    decode: decodeFn as (c: ContextPtr, b: RawBatch) => number,
    /** Runs `llama_decode` on koffi's worker thread so the event loop stays responsive. */
    decodeAsync: (c: ContextPtr, b: RawBatch): Promise<number> =>
      new Promise((resolve, reject) => decodeFn.async(c, b, (err: unknown, rc: number) => (err ? reject(err) : resolve(rc)))),
    threadpool: threadpoolApi(ggml),
    attachThreadpool: f("void llama_attach_threadpool(llama_context *ctx, void *threadpool, void *threadpool_batch)") as (
      c: ContextPtr,
      tp: ThreadpoolPtr,
      tpb: ThreadpoolPtr,
    ) => void,
    setNThreads: f("void llama_set_n_threads(llama_context *ctx, int32_t n_threads, int32_t n_threads_batch)") as (
      c: ContextPtr,
      a: number,
      b: number,
    ) => void,
    getLogits: f("float *llama_get_logits(llama_context *ctx)") as (c: ContextPtr) => bigint | null,
    getLogitsIth: f("float *llama_get_logits_ith(llama_context *ctx, int32_t i)") as (c: ContextPtr, i: number) => bigint | null,
    vocabNTokens: f("int32_t llama_vocab_n_tokens(const llama_vocab *vocab)") as (v: VocabPtr) => number,
    vocabType: f("int32_t llama_vocab_type(const llama_vocab *vocab)") as (v: VocabPtr) => number,
    vocabBos: f("int32_t llama_vocab_bos(const llama_vocab *vocab)") as (v: VocabPtr) => number,
    vocabEos: f("int32_t llama_vocab_eos(const llama_vocab *vocab)") as (v: VocabPtr) => number,
    vocabEot: f("int32_t llama_vocab_eot(const llama_vocab *vocab)") as (v: VocabPtr) => number,
    vocabIsEog: f("bool llama_vocab_is_eog(const llama_vocab *vocab, int32_t token)") as (v: VocabPtr, t: number) => boolean,
    vocabIsControl: f("bool llama_vocab_is_control(const llama_vocab *vocab, int32_t token)") as (v: VocabPtr, t: number) => boolean,
    vocabGetAttr: f("int32_t llama_vocab_get_attr(const llama_vocab *vocab, int32_t token)") as (v: VocabPtr, t: number) => number,
    vocabGetAddBos: f("bool llama_vocab_get_add_bos(const llama_vocab *vocab)") as (v: VocabPtr) => boolean,
    vocabGetAddEos: f("bool llama_vocab_get_add_eos(const llama_vocab *vocab)") as (v: VocabPtr) => boolean,
    tokenize: tokenizeFn as (...args: TokenizeArgs) => number,
    /** `llama_tokenize` on koffi's worker thread (for texts llama.cpp may take seconds over). */
    tokenizeAsync: (...args: TokenizeArgs): Promise<number> =>
      new Promise((resolve, reject) => tokenizeFn.async(...args, (err: unknown, n: number) => (err ? reject(err) : resolve(n)))),
    tokenToPiece: f(
      "int32_t llama_token_to_piece(const llama_vocab *vocab, int32_t token, _Out_ uint8_t *buf, " +
        "int32_t length, int32_t lstrip, bool special)",
    ) as (v: VocabPtr, t: number, buf: Uint8Array, len: number, lstrip: number, special: boolean) => number,
    modelQuantize: f(`uint32_t llama_model_quantize(const char *fname_inp, const char *fname_out, const ${QUANTIZE_PARAMS} *params)`) as (
      inp: string,
      out: string,
      params: Record<string, unknown>,
    ) => number,
    samplerInitGrammar: f(
      "llama_sampler *llama_sampler_init_grammar(const llama_vocab *vocab, const char *grammar_str, const char *grammar_root)",
    ) as (v: VocabPtr, grammar: string, root: string) => SamplerPtr | null,
    samplerApply: f("void llama_sampler_apply(llama_sampler *smpl, _Inout_ llama_token_data_array *cur_p)") as (
      s: SamplerPtr,
      arr: TokenDataArray,
    ) => void,
    samplerAccept: f("void llama_sampler_accept(llama_sampler *smpl, int32_t token)") as (s: SamplerPtr, t: number) => void,
    samplerFree: f("void llama_sampler_free(llama_sampler *smpl)") as (s: SamplerPtr) => void,
    logSet: f("void llama_log_set(herd_log_cb *cb, void *user_data)") as (cb: unknown, ud: null) => void,
    /** ABI canary: struct-returning functions take a hidden out-pointer (x86-64 SysV, > 16 bytes). */
    rawModelDefaultParams: f("void *llama_model_default_params(_Inout_ uint8_t *out)") as (out: Uint8Array) => unknown,
    rawContextDefaultParams: f("void *llama_context_default_params(_Inout_ uint8_t *out)") as (out: Uint8Array) => unknown,
    rawQuantizeDefaultParams: f("void *llama_model_quantize_default_params(_Inout_ uint8_t *out)") as (out: Uint8Array) => unknown,
  };
}

export type Bindings = ReturnType<typeof bind>;
let bindings: Bindings | undefined;

/** The process-wide binding for `device` (one device per process). */
export function getBindings(device: DeviceKind = "cpu"): Bindings {
  bindings ??= bind(device);
  if (bindings.files.device !== device) throw new Error(`bindings already loaded for ${bindings.files.device}`);
  return bindings;
}

export const sizeofStruct = (name: keyof typeof EXPECTED_STRUCT_SIZES): number => koffi.sizeof(name);
