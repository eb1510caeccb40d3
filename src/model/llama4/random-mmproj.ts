/**
 * Deterministic random-weight Llama 4 vision towers ("mmproj" GGUF, arch `clip`, projector `llama4`),
 * the companion of `random-model.ts`: with it the whole image path runs offline.
 *
 * The file is what llama.cpp's converter writes for Llama 4's vision model (llama4.md §6.3), with the
 * pre-FFN LayerNorm named `v.blk.N.ln2` (the bundled converter misnames it `attn_post_norm`, which
 * clip.cpp loads but runs as a different graph). Per tile: unfold `patchSize`² × 3 → linear, CLS
 * appended, learned positions, LayerNorm-pre, `nLayer` pre-LN ViT blocks with 2-D RoPE and GELU MLPs,
 * LayerNorm-post, CLS dropped, pixel shuffle by `scaleFactor` (2×2 → 4× width), adapter MLP
 * (fc1 → GELU → fc2 → GELU), projector `mm.model.fc` to the text model's width. Real tile geometry
 * (336 px, patch 14, 2×2 merge → 144 embeddings per tile, like Scout) with a small hidden size so it
 * encodes in milliseconds.
 *
 * Weights: linear layers draw from a bell-shaped distribution with standard deviation 1/√fan_in (so
 * activations keep their scale through the tower and the outputs are far from zero), biases 0.02,
 * class and position embeddings 1/√hidden, LayerNorms weight 1 and bias 0; every random tensor is
 * seeded by (`seed`, tensor name). The same config always gives the same bytes.
 * @module
 */
import { GgmlType, GgufWriter, gguf, shapeElements, type GgufValue, type GgufWriteResult } from "../gguf/gguf-writer.js";
import { LLAMA4_PRESETS, randomTensorBytes, type Llama4Preset } from "./random-model.js";

/**
 * Version of the mmproj generator's output; written as `herd.generator_version`. Bump it whenever the
 * bytes written for an unchanged config change; cached embedded mmprojs are keyed on it.
 */
export const LLAMA4_MMPROJ_GENERATOR_VERSION = 1;

export interface Llama4VisionConfig {
  /** `general.name`. */
  readonly name: string;
  /** Tile side in pixels (Scout: 336). */
  readonly imageSize: number;
  /** Scout: 14. */
  readonly patchSize: number;
  /** ViT width (Scout: 1408). */
  readonly nEmbd: number;
  /** ViT layers; at least 3 (the converter's adapter mapping needs 3; kept for parity). */
  readonly nLayer: number;
  readonly nHead: number;
  /** ViT MLP width (Scout: 5632). */
  readonly nFf: number;
  /** Pixel-shuffle merge per side, 1/pixel_shuffle_ratio (Scout: 2). */
  readonly scaleFactor: number;
  /** Adapter fc1 output width (`projector_input_dim`, Scout: 4096). */
  readonly projectorInputDim: number;
  /** Adapter fc2 output width (`projector_output_dim`, Scout: 4096). */
  readonly projectorOutputDim: number;
  /** Output width = the text model's `n_embd` (`clip.vision.projection_dim`, Scout: 5120). */
  readonly projectionDim: number;
  readonly normEps: number;
  readonly seed: number;
}

/** Vision towers for the embedded text presets (`projectionDim` = that preset's `nEmbd`). */
export const LLAMA4_VISION_PRESETS: Readonly<Record<Llama4Preset, Llama4VisionConfig>> = {
  tiny: {
    name: "herd-llama4-tiny-random-mmproj",
    imageSize: 336,
    patchSize: 14,
    nEmbd: 64,
    nLayer: 3,
    nHead: 4,
    nFf: 256,
    scaleFactor: 2,
    projectorInputDim: 128,
    projectorOutputDim: 128,
    projectionDim: LLAMA4_PRESETS.tiny.nEmbd,
    normEps: 1e-5,
    seed: 0x56495431,
  },
  bench: {
    name: "herd-llama4-bench-random-mmproj",
    imageSize: 336,
    patchSize: 14,
    nEmbd: 256,
    nLayer: 4,
    nHead: 4,
    nFf: 1024,
    scaleFactor: 2,
    projectorInputDim: 1024,
    projectorOutputDim: 1024,
    projectionDim: LLAMA4_PRESETS.bench.nEmbd,
    normEps: 1e-5,
    seed: 0x56495432,
  },
};

/** Embeddings per tile: (imageSize / patchSize / scaleFactor)². */
export const tokensPerTile = (c: Llama4VisionConfig): number => (c.imageSize / c.patchSize / c.scaleFactor) ** 2;

/** Throws a readable error when `c` would not load or run in llama.cpp's clip. */
export function validateVisionConfig(c: Llama4VisionConfig): void {
  const problems: string[] = [];
  const positive = [
    "imageSize",
    "patchSize",
    "nEmbd",
    "nLayer",
    "nHead",
    "nFf",
    "scaleFactor",
    "projectorInputDim",
    "projectorOutputDim",
    "projectionDim",
  ] as const;
  for (const k of positive) if (!Number.isSafeInteger(c[k]) || c[k] < 1) problems.push(`${k} must be a positive integer`);
  if (c.nLayer < 3) problems.push("nLayer must be at least 3 (the Llama 4 adapter mapping needs 3 ViT layers)");
  if (c.nEmbd % c.nHead !== 0) problems.push("nEmbd must be a multiple of nHead");
  else if ((c.nEmbd / c.nHead) % 4 !== 0) problems.push("the head size must be a multiple of 4 (2-D RoPE rotates pairs in each half)");
  if (c.imageSize % (c.patchSize * c.scaleFactor) !== 0) problems.push("imageSize must be a multiple of patchSize × scaleFactor");
  if (!(c.normEps > 0)) problems.push("normEps must be positive");
  if (!Number.isInteger(c.seed) || c.seed < 0 || c.seed > 0xffffffff) problems.push("seed must be a uint32");
  if (problems.length > 0) throw new Error(`invalid Llama 4 vision config ${c.name}: ${problems.join("; ")}`);
}

type Init = { readonly kind: "ones" } | { readonly kind: "zeros" } | { readonly kind: "random"; readonly std: number };
interface PlannedTensor {
  readonly name: string;
  readonly shape: readonly number[];
  readonly type: GgmlType.F32 | GgmlType.F16;
  readonly init: Init;
}

/** The tensors clip.cpp's llama4 loader expects, with ggml shapes (innermost first) and the converter's types. */
export function planMmprojTensors(c: Llama4VisionConfig): PlannedTensor[] {
  const H = c.nEmbd;
  const nPos = (c.imageSize / c.patchSize) ** 2 + 1; // + CLS
  const patchIn = c.patchSize * c.patchSize * 3;
  const shuffled = H * c.scaleFactor * c.scaleFactor;
  const F16 = GgmlType.F16;
  const F32 = GgmlType.F32;
  const linear = (fanIn: number): Init => ({ kind: "random", std: 1 / Math.sqrt(fanIn) });
  const bias: Init = { kind: "random", std: 0.02 };
  const norm = (name: string): PlannedTensor[] => [
    { name: `${name}.weight`, shape: [H], type: F32, init: { kind: "ones" } },
    { name: `${name}.bias`, shape: [H], type: F32, init: { kind: "zeros" } },
  ];
  const t: PlannedTensor[] = [
    // The converter keeps patch_embd F16 and position_embd F32 whatever the output type.
    { name: "v.patch_embd.weight", shape: [patchIn, H], type: F16, init: linear(patchIn) },
    { name: "v.class_embd", shape: [H], type: F32, init: linear(H) },
    { name: "v.position_embd.weight", shape: [H, nPos], type: F32, init: linear(H) },
    ...norm("v.pre_ln"),
    ...norm("v.post_ln"),
  ];
  for (let i = 0; i < c.nLayer; i++) {
    const b = `v.blk.${i}.`;
    for (const p of ["attn_q", "attn_k", "attn_v", "attn_out"]) {
      t.push(
        { name: `${b}${p}.weight`, shape: [H, H], type: F16, init: linear(H) },
        { name: `${b}${p}.bias`, shape: [H], type: F32, init: bias },
      );
    }
    t.push(
      ...norm(`${b}ln1`),
      ...norm(`${b}ln2`),
      { name: `${b}ffn_up.weight`, shape: [H, c.nFf], type: F16, init: linear(H) },
      { name: `${b}ffn_up.bias`, shape: [c.nFf], type: F32, init: bias },
      { name: `${b}ffn_down.weight`, shape: [c.nFf, H], type: F16, init: linear(c.nFf) },
      { name: `${b}ffn_down.bias`, shape: [H], type: F32, init: bias },
    );
  }
  t.push(
    { name: "mm.model.mlp.1.weight", shape: [shuffled, c.projectorInputDim], type: F16, init: linear(shuffled) },
    { name: "mm.model.mlp.2.weight", shape: [c.projectorInputDim, c.projectorOutputDim], type: F16, init: linear(c.projectorInputDim) },
    { name: "mm.model.fc.weight", shape: [c.projectorOutputDim, c.projectionDim], type: F16, init: linear(c.projectorOutputDim) },
  );
  return t;
}

/** The `clip.*` / `general.*` / `herd.*` metadata of a vision config (llama4.md §6.3). */
function mmprojMetadata(c: Llama4VisionConfig, preset?: string): Array<[string, GgufValue]> {
  const kv: Array<[string, GgufValue]> = [
    ["general.architecture", gguf.str("clip")],
    ["general.type", gguf.str("mmproj")],
    ["general.name", gguf.str(c.name)],
    ["general.file_type", gguf.u32(1)], // MOSTLY_F16
    ["clip.has_vision_encoder", gguf.bool(true)],
    ["clip.vision.projection_dim", gguf.u32(c.projectionDim)],
    ["clip.vision.image_size", gguf.u32(c.imageSize)],
    ["clip.vision.patch_size", gguf.u32(c.patchSize)],
    ["clip.vision.embedding_length", gguf.u32(c.nEmbd)],
    ["clip.vision.feed_forward_length", gguf.u32(c.nFf)],
    ["clip.vision.block_count", gguf.u32(c.nLayer)],
    ["clip.vision.attention.head_count", gguf.u32(c.nHead)],
    ["clip.vision.image_mean", gguf.f32Arr([0.5, 0.5, 0.5])],
    ["clip.vision.image_std", gguf.f32Arr([0.5, 0.5, 0.5])],
    ["clip.projector_type", gguf.str("llama4")],
    ["clip.vision.attention.layer_norm_epsilon", gguf.f32(c.normEps)],
    ["clip.vision.projector.scale_factor", gguf.u32(c.scaleFactor)],
    ["clip.use_gelu", gguf.bool(true)],
    ["general.quantization_version", gguf.u32(2)],
    ["herd.random_weights", gguf.bool(true)],
    ["herd.generator_version", gguf.u32(LLAMA4_MMPROJ_GENERATOR_VERSION)],
    ["herd.random_seed", gguf.u32(c.seed)],
  ];
  if (preset) kv.push(["herd.preset", gguf.str(preset)]);
  return kv;
}

// ---------------------------------------------------------------------------------------------
// Deterministic random numbers (integer-only, so identical everywhere)

/** FNV-1a 32-bit of a string's UTF-16 code units. */
function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** `count` values with standard deviation `std`: the text model's generator (`randomTensorBytes`) as F32. */
function randomValues(count: number, seed: number, std: number): Float32Array {
  const out = new Float32Array(count);
  let at = 0;
  for (const chunk of randomTensorBytes(count, seed, std, GgmlType.F32)) {
    const values = new Float32Array(chunk.buffer, chunk.byteOffset, chunk.byteLength / 4);
    out.set(values, at);
    at += values.length;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------

export interface GeneratedMmproj extends GgufWriteResult {
  readonly config: Llama4VisionConfig;
  /** Parameter count (all tensor elements). */
  readonly params: number;
  readonly ms: number;
}

/**
 * Writes a random-weight Llama 4 mmproj GGUF to `outPath` (atomically). `config` is a preset name (the
 * tower for that text preset) or a full config. Same config → byte-identical file.
 */
export async function generateLlama4Mmproj(outPath: string, config: Llama4VisionConfig | Llama4Preset = "tiny"): Promise<GeneratedMmproj> {
  const t0 = performance.now();
  const preset = typeof config === "string" ? config : undefined;
  const c = typeof config === "string" ? LLAMA4_VISION_PRESETS[config] : config;
  if (!c) throw new Error(`unknown Llama 4 vision preset ${String(config)}`);
  validateVisionConfig(c);

  const w = new GgufWriter(outPath);
  for (const [k, v] of mmprojMetadata(c, preset)) w.set(k, v);
  for (const t of planMmprojTensors(c)) {
    const n = shapeElements(t.shape);
    const { init } = t;
    const data =
      init.kind === "random"
        ? randomValues(n, (fnv1a(t.name) ^ c.seed) >>> 0, init.std)
        : new Float32Array(n).fill(init.kind === "ones" ? 1 : 0);
    w.addTensor({ name: t.name, shape: t.shape, type: t.type, data });
  }
  const res = await w.write();
  return { ...res, config: c, params: res.elements, ms: performance.now() - t0 };
}
