/**
 * Llama 4 vision tower + projector → mmproj GGUF (arch `clip`, projector `llama4`), following
 * llama.cpp's `Llama4VisionModel` converter (conversion/llama4.py, llama4.md §6.3) with one
 * deliberate difference: the ViT's pre-FFN LayerNorm (`post_attention_layernorm`) is written as
 * `v.blk.N.ln2`, which is what clip.cpp reads. The bundled gguf-py maps it to `attn_post_norm` (a
 * later gemma4 entry shadows the llama4 one), and clip.cpp would then apply it after attention and
 * run the FFN unnormalized.
 *
 * Tensors keep the checkpoint layout (ggml shape = reversed HF shape); 1-D tensors, biases, the
 * class embedding and the position embedding are F32; the patch embedding is F16 in an F16 file and
 * F32 otherwise; other weights get the output type.
 * @module
 */
import { GgmlType, gguf, type GgufValue, type TensorDeclaration } from "../model/gguf/gguf-writer.js";
import { CheckpointConfigError, findParam, requireInt, type CheckpointConfig, type Json } from "./hf-config.js";
import { fileTypeOf, tensorTypeFor, type GgufPlan } from "./gguf-plan.js";
import type { SafetensorsCheckpoint } from "./safetensors.js";
import { directSource, type OutFloatType, type ReadProgress } from "./tensor-data.js";

export interface VisionPlanOptions {
  readonly ftype: OutFloatType;
  /** `general.name` (llama.cpp: the model name with an `mmproj-` prefix). */
  readonly name: string;
  readonly onRead?: ReadProgress;
}

const BLOCK_MAP: ReadonlyArray<readonly [string, string]> = [
  ["self_attn.q_proj", "attn_q"],
  ["self_attn.k_proj", "attn_k"],
  ["self_attn.v_proj", "attn_v"],
  ["self_attn.o_proj", "attn_out"],
  ["input_layernorm", "ln1"],
  ["post_attention_layernorm", "ln2"],
  ["mlp.fc1", "ffn_up"],
  ["mlp.fc2", "ffn_down"],
];

const TOP_MAP: Readonly<Record<string, string>> = {
  "vision_model.patch_embedding.linear.weight": "v.patch_embd.weight",
  "vision_model.class_embedding": "v.class_embd",
  "vision_model.positional_embedding_vlm": "v.position_embd.weight",
  "vision_model.positional_embedding_vlm.weight": "v.position_embd.weight",
  "vision_model.layernorm_pre.weight": "v.pre_ln.weight",
  "vision_model.layernorm_pre.bias": "v.pre_ln.bias",
  "vision_model.layernorm_post.weight": "v.post_ln.weight",
  "vision_model.layernorm_post.bias": "v.post_ln.bias",
  "vision_model.vision_adapter.mlp.fc1.weight": "mm.model.mlp.1.weight",
  "vision_model.vision_adapter.mlp.fc2.weight": "mm.model.mlp.2.weight",
  "multi_modal_projector.linear_1.weight": "mm.model.fc.weight",
};

/** The GGUF name of a Llama 4 vision checkpoint tensor, or null when it is not part of the vision model. */
function mapLlama4VisionName(name: string): string | null {
  const top = TOP_MAP[name];
  if (top) return top;
  const m = /^vision_model\.model\.layers\.(\d+)\.(.+)\.(weight|bias)$/.exec(name);
  if (m) {
    const e = BLOCK_MAP.find(([hf]) => hf === m[2]);
    if (e) return `v.blk.${m[1]}.${e[1]}.${m[3]}`;
  }
  return null;
}

function num(obj: Json, key: string, what: string): number {
  const v = obj[key];
  if (typeof v !== "number") throw new CheckpointConfigError(`${what}: missing number ${key}`);
  return v;
}

function metadata(cfg: CheckpointConfig, v: Json, opts: VisionPlanOptions): Array<[string, GgufValue]> {
  const pre = cfg.preprocessor;
  const mean = pre.image_mean;
  const std = pre.image_std;
  if (!Array.isArray(mean) || !Array.isArray(std))
    throw new CheckpointConfigError("preprocessor_config.json: image_mean / image_std missing (needed for the mmproj)");
  if (v.hidden_act !== "gelu")
    throw new CheckpointConfigError(`vision_config.hidden_act is ${String(v.hidden_act)}; the llama4 projector expects gelu`);
  const projDim = requireInt(cfg.text, ["hidden_size", "n_embd"]);
  const ratio = num(v, "pixel_shuffle_ratio", "vision_config");
  const blocks = findParam(v, ["n_layers", "num_hidden_layers", "n_layer", "num_layers", "depth", "layers", "encoder_layers"]);
  return [
    ["general.architecture", gguf.str("clip")],
    ["general.type", gguf.str("mmproj")],
    ["general.name", gguf.str(opts.name)],
    ["general.file_type", gguf.u32(fileTypeOf(opts.ftype))],
    ["clip.has_vision_encoder", gguf.bool(true)],
    ["clip.vision.projection_dim", gguf.u32(projDim)],
    ["clip.vision.image_size", gguf.u32(num(v, "image_size", "vision_config"))],
    ["clip.vision.patch_size", gguf.u32(num(v, "patch_size", "vision_config"))],
    ["clip.vision.embedding_length", gguf.u32(num(v, "hidden_size", "vision_config"))],
    ["clip.vision.feed_forward_length", gguf.u32(num(v, "intermediate_size", "vision_config"))],
    ["clip.vision.block_count", gguf.u32(Number(blocks))],
    ["clip.vision.attention.head_count", gguf.u32(num(v, "num_attention_heads", "vision_config"))],
    ["clip.vision.image_mean", gguf.f32Arr(mean as number[])],
    ["clip.vision.image_std", gguf.f32Arr(std as number[])],
    ["clip.projector_type", gguf.str("llama4")],
    ["clip.vision.attention.layer_norm_epsilon", gguf.f32(num(v, "norm_eps", "vision_config"))],
    ["clip.vision.projector.scale_factor", gguf.u32(Math.trunc(1 / ratio))],
    ["clip.use_gelu", gguf.bool(true)],
    ["general.quantization_version", gguf.u32(2)],
  ];
}

/** The mmproj GGUF of a Llama 4 checkpoint with a vision tower. */
export function planLlama4Vision(ckpt: SafetensorsCheckpoint, cfg: CheckpointConfig, opts: VisionPlanOptions): GgufPlan {
  const v = cfg.vision;
  if (!v) throw new CheckpointConfigError("config.json has no vision_config");
  const tensors: TensorDeclaration[] = [];
  let sourceBytes = 0;
  const patchType = opts.ftype === GgmlType.F16 ? GgmlType.F16 : GgmlType.F32;
  for (const t of ckpt.tensors) {
    if (!t.name.startsWith("vision_model.") && !t.name.startsWith("multi_modal_projector.")) continue;
    const name = mapLlama4VisionName(t.name);
    if (!name) throw new CheckpointConfigError(`cannot map vision tensor ${t.name} to a GGUF tensor`);
    const shape = [...t.shape].reverse();
    const type = tensorTypeFor(name, shape.length, opts.ftype, name === "v.patch_embd.weight" ? patchType : undefined);
    tensors.push({ name, shape, type, data: directSource(ckpt, t, type, opts.onRead) });
    sourceBytes += t.byteLength;
  }
  const blocks = new Set(tensors.map((t) => /^v\.blk\.(\d+)\./.exec(t.name)?.[1]).filter((x) => x !== undefined));
  const expected = Number(findParam(v, ["num_hidden_layers"]));
  if (blocks.size !== expected)
    throw new CheckpointConfigError(`vision tower has ${blocks.size} blocks, vision_config.num_hidden_layers says ${expected}`);
  for (const need of ["v.patch_embd.weight", "v.position_embd.weight", "mm.model.fc.weight"]) {
    if (!tensors.some((t) => t.name === need)) throw new CheckpointConfigError(`vision checkpoint lacks the tensor for ${need}`);
  }
  return { kvs: metadata(cfg, v, opts), tensors, sourceBytes };
}
