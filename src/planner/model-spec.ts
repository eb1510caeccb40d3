/**
 * What the planner needs to know about a model: its shape, from a Hugging Face `config.json`, from a
 * GGUF header, or from the built-in configs of the two Llama 4 Instruct models. Pure functions: the
 * caller reads the files (`cli/commands/plan.ts`).
 *
 * Layer kinds (llama4.md §1.2): a Llama 4 layer is MoE (routed experts + one shared expert) or dense,
 * by `moe_layers` / `interleave_moe_layer_step`; RoPE layers use chunked attention over
 * `attention_chunk_size` tokens, NoPE layers (every 4th) attend to the whole sequence.
 * @module
 */

export type ModelSource = "builtin" | "hf-config" | "gguf";

export interface VisionSpec {
  readonly hiddenSize: number;
  readonly numLayers: number;
  readonly intermediateSize: number;
  readonly imageSize: number;
  readonly patchSize: number;
  readonly numChannels: number;
  readonly pixelShuffleRatio: number;
  readonly projectorInputDim: number;
  readonly projectorOutputDim: number;
  readonly visionOutputDim: number;
}

export interface ModelSpec {
  /** Hub id, directory or file the spec came from. */
  readonly id: string;
  readonly source: ModelSource;
  readonly architecture: string;
  readonly hiddenSize: number;
  readonly numLayers: number;
  readonly numAttentionHeads: number;
  readonly numKvHeads: number;
  readonly headDim: number;
  readonly vocabSize: number;
  readonly tieWordEmbeddings: boolean;
  /** Width of each routed expert and of the shared expert. */
  readonly expertIntermediateSize: number;
  /** Width of the dense FFN layers. */
  readonly denseIntermediateSize: number;
  /** Routed experts per MoE layer (0 for a dense model). */
  readonly numExperts: number;
  readonly numExpertsPerToken: number;
  readonly hasSharedExpert: boolean;
  /** Indices of the MoE layers; every other layer is dense. */
  readonly moeLayers: readonly number[];
  /** Indices of the layers with chunked (local) attention; the others keep every token. */
  readonly chunkedLayers: readonly number[];
  /** null = no chunked attention. */
  readonly attentionChunkSize: number | null;
  readonly maxPositionEmbeddings: number;
  readonly vision: VisionSpec | null;
  /**
   * Exact counts when the source has tensors (GGUF): then parameters and bytes are read, not derived.
   * `weightBytes` is the tensor data in the file, in the file's own types.
   */
  readonly measured: {
    readonly totalParams: number;
    readonly activeParams: number;
    readonly weightBytes: number;
    readonly fileType: string;
  } | null;
}

/** A model file or config we cannot plan for; the message says what is missing. */
export class ModelSpecError extends Error {
  override readonly name = "ModelSpecError";
}

type Json = Record<string, unknown>;

function num(obj: Json, key: string, where: string, fallback?: number): number {
  const v = obj[key];
  if (typeof v === "number" && Number.isFinite(v)) return v;
  if (v === undefined && fallback !== undefined) return fallback;
  throw new ModelSpecError(`${where}: "${key}" must be a number (got ${JSON.stringify(v)})`);
}

function intList(obj: Json, key: string): number[] | null {
  const v = obj[key];
  return Array.isArray(v) && v.every((x) => Number.isInteger(x)) ? (v as number[]) : null;
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

/** llama4: NoPE (global) layers are every 4th, counted from 1 (llama4.md §1.2). */
const LLAMA4_NOPE_INTERVAL = 4;

function visionFrom(v: Json): VisionSpec {
  const w = "vision_config";
  return {
    hiddenSize: num(v, "hidden_size", w),
    numLayers: num(v, "num_hidden_layers", w),
    intermediateSize: num(v, "intermediate_size", w),
    imageSize: num(v, "image_size", w),
    patchSize: num(v, "patch_size", w),
    numChannels: num(v, "num_channels", w, 3),
    pixelShuffleRatio: num(v, "pixel_shuffle_ratio", w),
    projectorInputDim: num(v, "projector_input_dim", w),
    projectorOutputDim: num(v, "projector_output_dim", w),
    visionOutputDim: num(v, "vision_output_dim", w),
  };
}

/**
 * From a Hugging Face `config.json`: Llama 4 (`Llama4ForConditionalGeneration` with `text_config`
 * and `vision_config`, or text-only `llama4_text`) and plain dense Llama.
 */
export function specFromHfConfig(config: unknown, id: string, source: ModelSource = "hf-config"): ModelSpec {
  if (typeof config !== "object" || config === null) throw new ModelSpecError(`${id}: config.json is not an object`);
  const top = config as Json;
  const text = (typeof top["text_config"] === "object" && top["text_config"] !== null ? top["text_config"] : top) as Json;
  const modelType = String(text["model_type"] ?? top["model_type"] ?? "");
  const isLlama4 = modelType.startsWith("llama4");
  if (!isLlama4 && modelType !== "llama" && modelType !== "mistral") {
    throw new ModelSpecError(`${id}: model_type "${modelType}" is not supported by the planner (llama4, llama, mistral)`);
  }
  const w = `${id} config.json`;
  const hiddenSize = num(text, "hidden_size", w);
  const numLayers = num(text, "num_hidden_layers", w);
  const numHeads = num(text, "num_attention_heads", w);
  const numKvHeads = num(text, "num_key_value_heads", w, numHeads);
  const headDim = num(text, "head_dim", w, hiddenSize / numHeads);
  const numExperts = isLlama4 ? num(text, "num_local_experts", w) : 0;
  let moeLayers: number[] = [];
  let chunkedLayers: number[] = [];
  let chunk: number | null = null;
  if (isLlama4) {
    const step = num(text, "interleave_moe_layer_step", w, 1);
    moeLayers = intList(text, "moe_layers") ?? range(numLayers).filter((i) => (i + 1) % step === 0);
    const rope = intList(text, "no_rope_layers");
    const isRope = (i: number) => (rope && rope.length === numLayers ? rope[i] === 1 : (i + 1) % LLAMA4_NOPE_INTERVAL !== 0);
    const c = text["attention_chunk_size"];
    if (typeof c === "number" && c > 0) {
      chunk = c;
      chunkedLayers = range(numLayers).filter(isRope);
    }
  }
  const visionJson = top["vision_config"];
  return {
    id,
    source,
    architecture: isLlama4 ? "llama4" : modelType,
    hiddenSize,
    numLayers,
    numAttentionHeads: numHeads,
    numKvHeads,
    headDim,
    vocabSize: num(text, "vocab_size", w),
    tieWordEmbeddings: Boolean(top["tie_word_embeddings"] ?? text["tie_word_embeddings"] ?? false),
    expertIntermediateSize: isLlama4 ? num(text, "intermediate_size", w) : 0,
    denseIntermediateSize: isLlama4 ? num(text, "intermediate_size_mlp", w) : num(text, "intermediate_size", w),
    numExperts,
    numExpertsPerToken: isLlama4 ? num(text, "num_experts_per_tok", w, 1) : 0,
    hasSharedExpert: isLlama4,
    moeLayers,
    chunkedLayers,
    attentionChunkSize: chunk,
    maxPositionEmbeddings: num(text, "max_position_embeddings", w),
    vision: isLlama4 && typeof visionJson === "object" && visionJson !== null ? visionFrom(visionJson as Json) : null,
    measured: null,
  };
}

/** The parts of node-llama-cpp's `GgufFileInfo` the planner reads (so this module stays free of I/O). */
export interface GgufHeader {
  readonly metadata: unknown;
  readonly tensorInfo?:
    | readonly { readonly name: string; readonly dimensions: readonly (number | bigint)[]; readonly fileOffset: number | bigint }[]
    | undefined;
}

/** llama.cpp's `LLAMA_FTYPE_*` names for `general.file_type`. */
const FILE_TYPES: Record<number, string> = {
  0: "f32",
  1: "f16",
  2: "q4_0",
  3: "q4_1",
  7: "q8_0",
  8: "q5_0",
  9: "q5_1",
  10: "q2_k",
  11: "q3_k_s",
  12: "q3_k_m",
  13: "q3_k_l",
  14: "q4_k_s",
  15: "q4_k_m",
  16: "q5_k_s",
  17: "q5_k_m",
  18: "q6_k",
  32: "bf16",
};

/** llama.cpp hard-codes Llama 4's chunked attention: 8192 tokens on 3 of every 4 layers. */
const LLAMA4_GGUF_CHUNK = 8192;

/**
 * From a GGUF header (`readGgufFileInfo`) and the file size: shape from the `<arch>.*` keys,
 * parameters from the tensor shapes, weight bytes from the tensor offsets (the last tensor runs to
 * the end of the file).
 */
export function specFromGguf(header: GgufHeader, fileSizeBytes: number, id: string): ModelSpec {
  const md = header.metadata as Json;
  const general = (md["general"] ?? {}) as Json;
  const arch = String(general["architecture"] ?? "");
  const a = md[arch] as Json | undefined;
  if (!a) throw new ModelSpecError(`${id}: GGUF has no metadata for architecture "${arch}"`);
  const attn = (a["attention"] ?? {}) as Json;
  const w = `${id} (GGUF ${arch})`;
  const hiddenSize = num(a, "embedding_length", w);
  const numLayers = num(a, "block_count", w);
  const numHeads = num(attn, "head_count", w);
  const numKvHeads = num(attn, "head_count_kv", w, numHeads);
  const headDim = num(attn, "key_length", w, hiddenSize / numHeads);
  const numExperts = num(a, "expert_count", w, 0);
  const numUsed = num(a, "expert_used_count", w, 0);
  const isLlama4 = arch === "llama4";
  const step = num(a, "interleave_moe_layer_step", w, 1);
  const tensors = header.tensorInfo ?? [];
  if (tensors.length === 0) throw new ModelSpecError(`${id}: the GGUF header lists no tensors`);

  let total = 0;
  let active = 0;
  let hasOutput = false;
  const sorted = [...tensors].sort((x, y) => Number(x.fileOffset) - Number(y.fileOffset));
  const first = Number(sorted[0]!.fileOffset);
  for (const t of tensors) {
    const n = t.dimensions.reduce<number>((p, d) => p * Number(d), 1);
    total += n;
    active += /_exps\.weight$/.test(t.name) && numExperts > 0 ? (n * numUsed) / numExperts : n;
    if (t.name === "output.weight") hasOutput = true;
  }
  const fileType = FILE_TYPES[Number(general["file_type"])] ?? `file_type ${String(general["file_type"])}`;
  const chunked = isLlama4 ? range(numLayers).filter((i) => (i + 1) % LLAMA4_NOPE_INTERVAL !== 0) : [];
  return {
    id,
    source: "gguf",
    architecture: arch,
    hiddenSize,
    numLayers,
    numAttentionHeads: numHeads,
    numKvHeads,
    headDim,
    vocabSize: num(a, "vocab_size", w, 0),
    tieWordEmbeddings: !hasOutput,
    expertIntermediateSize: num(a, "expert_feed_forward_length", w, 0),
    denseIntermediateSize: num(a, "feed_forward_length", w, 0),
    numExperts,
    numExpertsPerToken: numUsed,
    hasSharedExpert: isLlama4,
    moeLayers: numExperts > 0 ? range(numLayers).filter((i) => (i + 1) % step === 0) : [],
    chunkedLayers: chunked,
    attentionChunkSize: isLlama4 ? LLAMA4_GGUF_CHUNK : null,
    maxPositionEmbeddings: num(a, "context_length", w),
    vision: null,
    measured: { totalParams: total, activeParams: Math.round(active), weightBytes: fileSizeBytes - first, fileType },
  };
}
