/**
 * Deterministic random-weight Llama 4 text models in GGUF, for running herd offline (the embedded
 * default model) and for benchmarks.
 *
 * The file is what llama.cpp's converter would write for a Llama 4 checkpoint (arch `llama4`, llama4.md
 * §6): the real tokenizer layout (see `tokenizer.ts`), the converter's tensor names and ggml shapes,
 * dense and MoE layers interleaved by `interleave_moe_layer_step` (MoE layers = routed experts + a
 * shared expert, top-1 sigmoid routing), RoPE on 3 of every 4 layers (llama.cpp hard-codes the NoPE
 * layers and the chunked attention for llama4). Norm weights are 1, every other weight is a
 * zero-mean bell-shaped value with standard deviation `initStd`, drawn from a PRNG seeded
 * by (`seed`, tensor name): the same config always gives the same bytes.
 *
 * llama.cpp needs at least 4 layers for llama4: with fewer, every layer is chunked-SWA, the full-
 * attention KV cache has no layer and the first decode aborts (llama-cpp-ffi.md §3).
 * @module
 */
import {
  f32ToBf16,
  f32ToF16,
  GgmlType,
  GgufWriter,
  gguf,
  shapeElements,
  type GgufValue,
  type GgufWriteResult,
} from "../gguf/gguf-writer.js";
import { buildLlama4Tokenizer, LLAMA4_VOCAB_SIZE, tokenizerMetadata } from "./tokenizer.js";

/**
 * Version of the generator's output format, written as `herd.generator_version`. Bump it whenever the
 * bytes written for an unchanged config change (writer, tokenizer, init or metadata); cached embedded
 * models are keyed on it.
 */
export const LLAMA4_GENERATOR_VERSION = 1;

export type WeightType = "f32" | "f16" | "bf16";

export interface Llama4RandomConfig {
  /** `general.name`. */
  readonly name: string;
  readonly nEmbd: number;
  /** Number of layers; at least 4 (llama.cpp aborts below that). */
  readonly nLayer: number;
  readonly nHead: number;
  readonly nHeadKv: number;
  readonly headDim: number;
  /** Width of the dense SwiGLU layers (`feed_forward_length`). */
  readonly nFf: number;
  /** Width of each routed expert and of the shared expert (`expert_feed_forward_length`). */
  readonly nFfExp: number;
  readonly nExpert: number;
  readonly nExpertUsed: number;
  /** Layer i is MoE when (i + 1) % step == 0 (Maverick: 2, Scout: 1). */
  readonly interleaveMoeStep: number;
  readonly contextLength: number;
  readonly ropeFreqBase: number;
  readonly rmsEps: number;
  /** Type of the 2-D weights; norms and the router are always F32 (as the converter writes them). */
  readonly weightType: WeightType;
  readonly seed: number;
  /** Standard deviation of the random weights. */
  readonly initStd: number;
}

/** The embedded default: small enough to generate in seconds and decode fast on 2 CPU cores. */
export const TINY_CONFIG: Llama4RandomConfig = {
  name: "herd-llama4-tiny-random",
  nEmbd: 128,
  nLayer: 4,
  nHead: 4,
  nHeadKv: 2,
  headDim: 32,
  nFf: 512,
  nFfExp: 256,
  nExpert: 4,
  nExpertUsed: 1,
  interleaveMoeStep: 2,
  contextLength: 16384,
  ropeFreqBase: 500000,
  rmsEps: 1e-5,
  weightType: "f16",
  seed: 0x4c4c4134,
  initStd: 0.02,
};

/** Benchmark-sized (~0.58B parameters, ~1.2 GB in F16; quantize to Q8_0 for ~0.6 GB). */
const BENCH_CONFIG: Llama4RandomConfig = {
  name: "herd-llama4-bench-random",
  nEmbd: 1024,
  nLayer: 8,
  nHead: 16,
  nHeadKv: 4,
  headDim: 64,
  nFf: 2816,
  nFfExp: 1024,
  nExpert: 8,
  nExpertUsed: 1,
  interleaveMoeStep: 2,
  contextLength: 16384,
  ropeFreqBase: 500000,
  rmsEps: 1e-5,
  weightType: "f16",
  seed: 0x4c4c4135,
  initStd: 0.02,
};

export type Llama4Preset = "tiny" | "bench";
export const LLAMA4_PRESETS: Readonly<Record<Llama4Preset, Llama4RandomConfig>> = { tiny: TINY_CONFIG, bench: BENCH_CONFIG };

export interface GeneratedModel extends GgufWriteResult {
  readonly config: Llama4RandomConfig;
  /** Parameter count (all tensor elements). */
  readonly params: number;
  readonly ms: number;
}

const GGML_BY_WEIGHT: Record<WeightType, GgmlType.F32 | GgmlType.F16 | GgmlType.BF16> = {
  f32: GgmlType.F32,
  f16: GgmlType.F16,
  bf16: GgmlType.BF16,
};
/** `llama_ftype` for `general.file_type`: ALL_F32, MOSTLY_F16, MOSTLY_BF16. */
const FILE_TYPE_BY_WEIGHT: Record<WeightType, number> = { f32: 0, f16: 1, bf16: 32 };

/** Throws a readable error when `c` would not load (or would abort) in llama.cpp. */
export function validateConfig(c: Llama4RandomConfig): void {
  const problems: string[] = [];
  const positive = [
    "nEmbd",
    "nLayer",
    "nHead",
    "nHeadKv",
    "headDim",
    "nFf",
    "nFfExp",
    "nExpert",
    "nExpertUsed",
    "interleaveMoeStep",
    "contextLength",
  ] as const;
  for (const k of positive) if (!Number.isSafeInteger(c[k]) || c[k] < 1) problems.push(`${k} must be a positive integer`);
  if (c.nLayer < 4) problems.push("nLayer must be at least 4 (llama.cpp aborts on llama4 with fewer layers)");
  if (c.nHead % c.nHeadKv !== 0) problems.push("nHead must be a multiple of nHeadKv");
  if (c.nExpertUsed > c.nExpert) problems.push("nExpertUsed must not exceed nExpert");
  // Rows must split into 32-element blocks so the model can be quantized (Q8_0, Q4_0).
  for (const k of ["nEmbd", "nFf", "nFfExp"] as const) if (c[k] % 32 !== 0) problems.push(`${k} must be a multiple of 32`);
  if ((c.nHead * c.headDim) % 32 !== 0) problems.push("nHead * headDim must be a multiple of 32");
  if (c.headDim % 2 !== 0) problems.push("headDim must be even (RoPE)");
  if (!(c.initStd > 0) || !(c.rmsEps > 0) || !(c.ropeFreqBase > 0)) problems.push("initStd, rmsEps and ropeFreqBase must be positive");
  if (!Number.isInteger(c.seed) || c.seed < 0 || c.seed > 0xffffffff) problems.push("seed must be a uint32");
  if (problems.length > 0) throw new Error(`invalid Llama 4 config ${c.name}: ${problems.join("; ")}`);
}

const isMoeLayer = (c: Llama4RandomConfig, il: number): boolean => (il + 1) % c.interleaveMoeStep === 0;

interface PlannedTensor {
  readonly name: string;
  readonly shape: readonly number[];
  readonly kind: "norm" | "router" | "weight";
}

/** The tensors llama.cpp's llama4 loader expects, with ggml shapes (innermost first). */
export function planTensors(c: Llama4RandomConfig): PlannedTensor[] {
  const V = LLAMA4_VOCAB_SIZE;
  const E = c.nEmbd;
  const qDim = c.nHead * c.headDim;
  const kvDim = c.nHeadKv * c.headDim;
  const t: PlannedTensor[] = [
    { name: "token_embd.weight", shape: [E, V], kind: "weight" },
    { name: "output_norm.weight", shape: [E], kind: "norm" },
    { name: "output.weight", shape: [E, V], kind: "weight" },
  ];
  for (let i = 0; i < c.nLayer; i++) {
    const b = `blk.${i}.`;
    t.push(
      { name: `${b}attn_norm.weight`, shape: [E], kind: "norm" },
      { name: `${b}attn_q.weight`, shape: [E, qDim], kind: "weight" },
      { name: `${b}attn_k.weight`, shape: [E, kvDim], kind: "weight" },
      { name: `${b}attn_v.weight`, shape: [E, kvDim], kind: "weight" },
      { name: `${b}attn_output.weight`, shape: [qDim, E], kind: "weight" },
      { name: `${b}ffn_norm.weight`, shape: [E], kind: "norm" },
    );
    if (isMoeLayer(c, i)) {
      t.push(
        { name: `${b}ffn_gate_inp.weight`, shape: [E, c.nExpert], kind: "router" },
        { name: `${b}ffn_gate_exps.weight`, shape: [E, c.nFfExp, c.nExpert], kind: "weight" },
        { name: `${b}ffn_up_exps.weight`, shape: [E, c.nFfExp, c.nExpert], kind: "weight" },
        { name: `${b}ffn_down_exps.weight`, shape: [c.nFfExp, E, c.nExpert], kind: "weight" },
        { name: `${b}ffn_gate_shexp.weight`, shape: [E, c.nFfExp], kind: "weight" },
        { name: `${b}ffn_up_shexp.weight`, shape: [E, c.nFfExp], kind: "weight" },
        { name: `${b}ffn_down_shexp.weight`, shape: [c.nFfExp, E], kind: "weight" },
      );
    } else {
      t.push(
        { name: `${b}ffn_gate.weight`, shape: [E, c.nFf], kind: "weight" },
        { name: `${b}ffn_up.weight`, shape: [E, c.nFf], kind: "weight" },
        { name: `${b}ffn_down.weight`, shape: [c.nFf, E], kind: "weight" },
      );
    }
  }
  return t;
}

/** Parameter count of a config (what `llama_model_n_params` reports). */
export function countParams(c: Llama4RandomConfig): number {
  return planTensors(c).reduce((n, t) => n + shapeElements(t.shape), 0);
}

// ---------------------------------------------------------------------------------------------
// Deterministic random numbers

/** FNV-1a 32-bit of a string's UTF-16 code units. */
function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** splitmix32: expands a 32-bit seed into well-mixed state words. */
function splitmix32(seed: number): () => number {
  let x = seed | 0;
  return () => {
    x = (x + 0x9e3779b9) | 0;
    let z = x;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return (z ^ (z >>> 16)) | 0;
  };
}

const CHUNK = 1 << 20;

/**
 * Lazily generated bytes of one weight tensor, in chunks (the chunk buffer is reused). The PRNG is
 * xoshiro128** (integer-only, so identical everywhere); each 32-bit draw gives one value, the sum of
 * its four bytes (Irwin–Hall, 4 uniforms: bell-shaped, bounded at ±3.46σ) scaled to `std`. The sum
 * has only 1021 possible values, so they are encoded once into a lookup table of the target type.
 */
export function* randomTensorBytes(
  count: number,
  seed: number,
  std: number,
  type: GgmlType.F32 | GgmlType.F16 | GgmlType.BF16,
): Generator<Uint8Array> {
  const init = splitmix32(seed);
  let a = init(),
    b = init(),
    c = init(),
    d = init();
  // Each byte is uniform on 0..255 (variance (256²−1)/12); the sum of four has mean 510.
  const scale = std / Math.sqrt((256 * 256 - 1) / 3);
  const levels = Float32Array.from({ length: 1021 }, (_, s) => (s - 510) * scale);
  const wide = type === GgmlType.F32;
  const lut = wide ? levels : Uint16Array.from(levels, type === GgmlType.F16 ? f32ToF16 : f32ToBf16);
  const n0 = Math.min(CHUNK, count);
  const buf = wide ? new Float32Array(n0) : new Uint16Array(n0);
  const bytes = new Uint8Array(buf.buffer);
  for (let done = 0; done < count; ) {
    const n = Math.min(buf.length, count - done);
    for (let i = 0; i < n; i++) {
      const m = Math.imul(b, 5);
      const r = Math.imul((m << 7) | (m >>> 25), 9);
      const t = b << 9;
      c ^= a;
      d ^= b;
      b ^= c;
      a ^= d;
      c ^= t;
      d = (d << 11) | (d >>> 21);
      buf[i] = lut[(r & 255) + ((r >>> 8) & 255) + ((r >>> 16) & 255) + (r >>> 24)]!;
    }
    done += n;
    yield n === buf.length ? bytes : bytes.subarray(0, n * buf.BYTES_PER_ELEMENT);
  }
}

// ---------------------------------------------------------------------------------------------

/** The `llama4.*` / `general.*` / `herd.*` metadata of a config (tokenizer keys not included). */
function modelMetadata(c: Llama4RandomConfig, preset?: string): Array<[string, GgufValue]> {
  const a = "llama4";
  const kv: Array<[string, GgufValue]> = [
    ["general.architecture", gguf.str(a)],
    ["general.type", gguf.str("model")],
    ["general.name", gguf.str(c.name)],
    ["general.file_type", gguf.u32(FILE_TYPE_BY_WEIGHT[c.weightType])],
    [`${a}.vocab_size`, gguf.u32(LLAMA4_VOCAB_SIZE)],
    [`${a}.context_length`, gguf.u32(c.contextLength)],
    [`${a}.embedding_length`, gguf.u32(c.nEmbd)],
    [`${a}.block_count`, gguf.u32(c.nLayer)],
    [`${a}.feed_forward_length`, gguf.u32(c.nFf)],
    [`${a}.expert_feed_forward_length`, gguf.u32(c.nFfExp)],
    [`${a}.attention.head_count`, gguf.u32(c.nHead)],
    [`${a}.attention.head_count_kv`, gguf.u32(c.nHeadKv)],
    [`${a}.attention.key_length`, gguf.u32(c.headDim)],
    [`${a}.attention.value_length`, gguf.u32(c.headDim)],
    [`${a}.rope.dimension_count`, gguf.u32(c.headDim)],
    [`${a}.rope.freq_base`, gguf.f32(c.ropeFreqBase)],
    [`${a}.attention.layer_norm_rms_epsilon`, gguf.f32(c.rmsEps)],
    [`${a}.expert_count`, gguf.u32(c.nExpert)],
    [`${a}.expert_used_count`, gguf.u32(c.nExpertUsed)],
    [`${a}.interleave_moe_layer_step`, gguf.u32(c.interleaveMoeStep)],
    ["herd.random_weights", gguf.bool(true)],
    ["herd.generator_version", gguf.u32(LLAMA4_GENERATOR_VERSION)],
    ["herd.random_seed", gguf.u32(c.seed)],
  ];
  if (preset) kv.push(["herd.preset", gguf.str(preset)]);
  return kv;
}

/**
 * Writes a random-weight Llama 4 GGUF to `outPath` (atomically). `config` is a preset name or a
 * full config. Same config → byte-identical file.
 */
export async function generateLlama4Model(outPath: string, config: Llama4RandomConfig | Llama4Preset = "tiny"): Promise<GeneratedModel> {
  const t0 = performance.now();
  const preset = typeof config === "string" ? config : undefined;
  const c = typeof config === "string" ? LLAMA4_PRESETS[config] : config;
  if (!c) throw new Error(`unknown Llama 4 preset ${String(config)}`);
  validateConfig(c);

  const w = new GgufWriter(outPath);
  for (const [k, v] of modelMetadata(c, preset)) w.set(k, v);
  for (const [k, v] of tokenizerMetadata(buildLlama4Tokenizer())) w.set(k, v);

  for (const t of planTensors(c)) {
    const n = shapeElements(t.shape);
    if (t.kind === "norm") {
      w.addTensor({ name: t.name, shape: t.shape, type: GgmlType.F32, data: new Float32Array(n).fill(1) });
    } else {
      const seed = (fnv1a(t.name) ^ c.seed) >>> 0;
      const type = t.kind === "router" ? GgmlType.F32 : GGML_BY_WEIGHT[c.weightType];
      w.addTensor({ name: t.name, shape: t.shape, type, data: { raw: () => randomTensorBytes(n, seed, c.initStd, type) } });
    }
  }
  const res = await w.write();
  return { ...res, config: c, params: res.elements, ms: performance.now() - t0 };
}
