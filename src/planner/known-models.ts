/**
 * The `config.json` fields of the two Llama 4 Instruct models that the planner reads, so
 * `herd plan --model meta-llama/Llama-4-Scout-17B-16E-Instruct` works offline. Values as in
 * `../shared/reference/llama4.md` §1.2–1.3 (copies embedded in NxD Inference's tp64 tests and
 * TensorRT-LLM's unit tests; the Hub files are gated). Only shape fields are kept.
 * @module
 */
import { specFromHfConfig, type ModelSpec } from "./model-spec.js";

const VISION_CONFIG = {
  model_type: "llama4_vision_model",
  hidden_size: 1408,
  num_hidden_layers: 34,
  num_attention_heads: 16,
  intermediate_size: 5632,
  image_size: 336,
  patch_size: 14,
  num_channels: 3,
  pixel_shuffle_ratio: 0.5,
  projector_input_dim: 4096,
  projector_output_dim: 4096,
  vision_output_dim: 4096,
};

const TEXT_COMMON = {
  model_type: "llama4_text",
  hidden_size: 5120,
  intermediate_size: 8192,
  intermediate_size_mlp: 16384,
  num_hidden_layers: 48,
  num_attention_heads: 40,
  num_key_value_heads: 8,
  head_dim: 128,
  num_experts_per_tok: 1,
  attention_chunk_size: 8192,
  vocab_size: 202048,
};

export const KNOWN_MODEL_CONFIGS: Readonly<Record<string, object>> = {
  "meta-llama/Llama-4-Scout-17B-16E-Instruct": {
    architectures: ["Llama4ForConditionalGeneration"],
    model_type: "llama4",
    tie_word_embeddings: false,
    text_config: { ...TEXT_COMMON, num_local_experts: 16, interleave_moe_layer_step: 1, max_position_embeddings: 10485760 },
    vision_config: VISION_CONFIG,
  },
  "meta-llama/Llama-4-Maverick-17B-128E-Instruct": {
    architectures: ["Llama4ForConditionalGeneration"],
    model_type: "llama4",
    tie_word_embeddings: false,
    text_config: { ...TEXT_COMMON, num_local_experts: 128, interleave_moe_layer_step: 2, max_position_embeddings: 1048576 },
    vision_config: VISION_CONFIG,
  },
};

/** Short names accepted for the known ids (case-insensitive). */
const ALIASES: Readonly<Record<string, string>> = {
  scout: "meta-llama/Llama-4-Scout-17B-16E-Instruct",
  maverick: "meta-llama/Llama-4-Maverick-17B-128E-Instruct",
};

export const KNOWN_MODEL_IDS = Object.keys(KNOWN_MODEL_CONFIGS);

/** The built-in spec of a known id or alias, or null. */
export function knownModelSpec(idOrAlias: string): ModelSpec | null {
  const lower = idOrAlias.toLowerCase();
  const id = ALIASES[lower] ?? KNOWN_MODEL_IDS.find((k) => k.toLowerCase() === lower);
  if (!id) return null;
  return specFromHfConfig(KNOWN_MODEL_CONFIGS[id], id, "builtin");
}
