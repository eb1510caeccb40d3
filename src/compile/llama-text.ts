/**
 * Hugging Face Llama-family text model → GGUF, following llama.cpp's `LlamaModel` / `Llama4Model`
 * converters (conversion/llama.py, Sep-2026 snapshot; llama4.md §6.1–6.2):
 *
 * - arch `llama4` (`Llama4ForConditionalGeneration`, `Llama4ForCausalLM`): the `language_model.`
 *   prefix is dropped; `feed_forward_length` is `intermediate_size_mlp` (dense layers) and
 *   `expert_feed_forward_length` is `intermediate_size`; stacked experts `gate_up_proj` [E, n_embd,
 *   2·n_ff] are transposed per expert and split into `ffn_gate_exps` / `ffn_up_exps`, `down_proj`
 *   [E, n_ff, n_embd] is transposed into `ffn_down_exps`; q/k are not permuted;
 * - arch `llama` (`LlamaForCausalLM`): q/k rows are permuted from rotate-half to interleaved pairs;
 * - `rope_freqs` (F32) is generated when `rope_type` is `llama3` (Scout: ones, then the factor);
 * - 1-D tensors, norms and routers stay F32, other weights get the output type.
 * @module
 */
import { gguf, type GgufValue, type TensorDeclaration } from "../model/gguf/gguf-writer.js";
import { CheckpointConfigError, findParam, optionalNumber, requireInt, type CheckpointConfig, type Json } from "./hf-config.js";
import { tokenizerKvs, type ConvertedTokenizer } from "./hf-tokenizer.js";
import { fileTypeOf, tensorTypeFor, type GgufPlan } from "./gguf-plan.js";
import type { SafetensorsCheckpoint, TensorInfo } from "./safetensors.js";
import { directSource, permutedRowsSource, transposedSource, valuesSource, type OutFloatType, type ReadProgress } from "./tensor-data.js";

export type TextArch = "llama" | "llama4";

const TEXT_ARCH_BY_HF: Readonly<Record<string, TextArch>> = {
  Llama4ForConditionalGeneration: "llama4",
  Llama4ForCausalLM: "llama4",
  LlamaForCausalLM: "llama",
};

export interface TextPlanOptions {
  readonly ftype: OutFloatType;
  /** `general.name`. */
  readonly name: string;
  readonly onRead?: ReadProgress;
}

/** Is `name` (a checkpoint tensor) part of a vision tower / projector rather than the text model? */
function isMultimodalTensor(name: string): boolean {
  return (
    name.startsWith("vision_model.") ||
    name.startsWith("multi_modal_projector.") ||
    name.includes("vision_tower.") ||
    name.startsWith("vision_")
  );
}

/** The rope_freqs factors llama.cpp generates for `rope_type == "llama3"`, in float32 arithmetic. */
export function llama3RopeFactors(cfg: CheckpointConfig, dim: number): Float32Array {
  const r = cfg.rope;
  const f = Math.fround;
  const base = r.theta ?? 10000;
  const factor = r.factor ?? 8;
  const low = r.lowFreqFactor ?? 1;
  const high = r.highFreqFactor ?? 4;
  const oldCtx = r.originalMaxPositionEmbeddings ?? 8192;
  const lowWavelen = f(oldCtx / low);
  const highWavelen = f(oldCtx / high);
  const twoPi = f(2 * Math.PI);
  const out = new Float32Array(dim / 2);
  for (let i = 0; i < dim / 2; i++) {
    const freq = f(1 / f(base ** f(f(2 * i) / dim)));
    const wavelen = f(twoPi / freq);
    if (wavelen < highWavelen) out[i] = 1;
    else if (wavelen > lowWavelen) out[i] = factor;
    else {
      const smooth = (oldCtx / wavelen - low) / (high - low);
      out[i] = 1 / ((1 - smooth) / factor + smooth);
    }
  }
  return out;
}

/** Text hyper-parameters the converter needs, with clear errors for missing ones. */
export interface TextHparams {
  readonly arch: TextArch;
  readonly nLayer: number;
  readonly nEmbd: number;
  readonly nHead: number;
  readonly nHeadKv: number;
  readonly headDim: number | null;
  readonly ropeDim: number;
  readonly nFf: number | null;
  readonly nFfExp: number | null;
  readonly nExpert: number | null;
  readonly nExpertUsed: number | null;
  readonly interleaveMoeStep: number | null;
  readonly contextLength: number | null;
  readonly vocabSize: number;
}

export function textHparams(cfg: CheckpointConfig): TextHparams {
  const arch = TEXT_ARCH_BY_HF[cfg.architecture];
  if (!arch)
    throw new CheckpointConfigError(
      `architecture ${cfg.architecture} is not supported (supported: ${Object.keys(TEXT_ARCH_BY_HF).join(", ")})`,
    );
  const t = cfg.text;
  const nEmbd = requireInt(t, ["hidden_size", "n_embd", "dim"]);
  const nHead = requireInt(t, ["num_attention_heads", "n_head", "n_heads"]);
  const headDim = optionalNumber(t, ["head_dim"]);
  const ffKeys = arch === "llama4" ? ["intermediate_size_mlp"] : ["intermediate_size", "n_inner", "hidden_dim"];
  return {
    arch,
    nLayer: requireInt(t, ["n_layers", "num_hidden_layers", "n_layer", "num_layers"]),
    nEmbd,
    nHead,
    nHeadKv: optionalNumber(t, ["num_key_value_heads", "n_kv_heads"]) ?? nHead,
    headDim,
    ropeDim: headDim ?? nEmbd / nHead,
    nFf: optionalNumber(t, ffKeys),
    nFfExp: arch === "llama4" ? optionalNumber(t, ["intermediate_size"]) : null,
    nExpert: optionalNumber(t, ["num_local_experts", "num_experts", "n_routed_experts"]),
    nExpertUsed: optionalNumber(t, ["num_experts_per_tok", "num_experts_per_token", "top_k_experts"]),
    interleaveMoeStep: arch === "llama4" ? requireInt(t, ["interleave_moe_layer_step"]) : null,
    contextLength: optionalNumber(t, [
      "max_position_embeddings",
      "n_ctx",
      "n_positions",
      "max_length",
      "max_sequence_length",
      "model_max_length",
    ]),
    vocabSize: requireInt(t, ["vocab_size"]),
  };
}

/** `general.sampling.*` from generation_config.json (gguf-py `Metadata.set_gguf_meta_model`). */
function samplingKvs(cfg: CheckpointConfig): Array<[string, GgufValue]> {
  const g = cfg.generation;
  if (!g) return [];
  const kv: Array<[string, GgufValue]> = [];
  if (g.topK !== undefined) kv.push(["general.sampling.top_k", gguf.i32(g.topK)]);
  if (g.topP !== undefined) kv.push(["general.sampling.top_p", gguf.f32(g.topP)]);
  if (g.minP !== undefined) kv.push(["general.sampling.min_p", gguf.f32(g.minP)]);
  if (g.temperature !== undefined) kv.push(["general.sampling.temp", gguf.f32(g.temperature)]);
  if (g.repetitionPenalty !== undefined) kv.push(["general.sampling.penalty_repeat", gguf.f32(g.repetitionPenalty)]);
  return kv;
}

function metadata(cfg: CheckpointConfig, h: TextHparams, tok: ConvertedTokenizer, opts: TextPlanOptions): Array<[string, GgufValue]> {
  const a = h.arch;
  const t = cfg.text;
  const kv: Array<[string, GgufValue]> = [
    ["general.architecture", gguf.str(a)],
    ["general.type", gguf.str("model")],
    ...samplingKvs(cfg),
    ["general.name", gguf.str(opts.name)],
    [`${a}.block_count`, gguf.u32(h.nLayer)],
  ];
  if (h.contextLength !== null) kv.push([`${a}.context_length`, gguf.u32(h.contextLength)]);
  kv.push([`${a}.embedding_length`, gguf.u32(h.nEmbd)]);
  if (h.nFf !== null) kv.push([`${a}.feed_forward_length`, gguf.u32(h.nFf)]);
  kv.push([`${a}.attention.head_count`, gguf.u32(h.nHead)], [`${a}.attention.head_count_kv`, gguf.u32(h.nHeadKv)]);
  const r = cfg.rope;
  if (r.ropeType === "linear" && r.factor !== null) {
    kv.push([`${a}.rope.scaling.type`, gguf.str("linear")], [`${a}.rope.scaling.factor`, gguf.f32(r.factor)]);
  } else if (r.ropeType === "yarn" && r.factor !== null) {
    kv.push([`${a}.rope.scaling.type`, gguf.str("yarn")], [`${a}.rope.scaling.factor`, gguf.f32(r.factor)]);
    if (r.originalMaxPositionEmbeddings !== null)
      kv.push([`${a}.rope.scaling.original_context_length`, gguf.u32(r.originalMaxPositionEmbeddings)]);
  } else if (r.ropeType !== null && r.ropeType.toLowerCase() !== "llama3" && r.ropeType !== "default") {
    throw new CheckpointConfigError(`rope_type ${r.ropeType} is not supported by the compiler (supported: default, llama3, linear, yarn)`);
  }
  if (r.theta !== null) kv.push([`${a}.rope.freq_base`, gguf.f32(r.theta)]);
  const rmsEps = optionalNumber(t, ["rms_norm_eps", "norm_eps"]);
  if (rmsEps !== null) kv.push([`${a}.attention.layer_norm_rms_epsilon`, gguf.f32(rmsEps)]);
  if (h.nExpert !== null) kv.push([`${a}.expert_count`, gguf.u32(h.nExpert)]);
  if (h.nExpertUsed !== null) kv.push([`${a}.expert_used_count`, gguf.u32(h.nExpertUsed)]);
  if (h.headDim !== null) kv.push([`${a}.attention.key_length`, gguf.u32(h.headDim)], [`${a}.attention.value_length`, gguf.u32(h.headDim)]);
  kv.push(["general.file_type", gguf.u32(fileTypeOf(opts.ftype))]);
  kv.push([`${a}.vocab_size`, gguf.u32(h.vocabSize)], [`${a}.rope.dimension_count`, gguf.u32(h.ropeDim)]);
  if (a === "llama4") {
    kv.push([`${a}.interleave_moe_layer_step`, gguf.u32(h.interleaveMoeStep!)]);
    if (h.nFfExp !== null) kv.push([`${a}.expert_feed_forward_length`, gguf.u32(h.nFfExp)]);
    const layerTypes = findParam(t, ["layer_types"]);
    if (Array.isArray(layerTypes) && layerTypes.length > 0 && layerTypes.every((x) => x === "full_attention"))
      kv.push([`${a}.attention.sliding_window`, gguf.u32(0)]);
  }
  kv.push(["general.quantization_version", gguf.u32(2)]);
  kv.push(...tokenizerKvs(tok));
  return kv;
}

const LAYER_MAP: ReadonlyArray<readonly [string, string]> = [
  ["input_layernorm.weight", "attn_norm.weight"],
  ["post_attention_layernorm.weight", "ffn_norm.weight"],
  ["self_attn.q_proj.weight", "attn_q.weight"],
  ["self_attn.k_proj.weight", "attn_k.weight"],
  ["self_attn.v_proj.weight", "attn_v.weight"],
  ["self_attn.o_proj.weight", "attn_output.weight"],
  ["feed_forward.router.weight", "ffn_gate_inp.weight"],
  ["feed_forward.shared_expert.gate_proj.weight", "ffn_gate_shexp.weight"],
  ["feed_forward.shared_expert.up_proj.weight", "ffn_up_shexp.weight"],
  ["feed_forward.shared_expert.down_proj.weight", "ffn_down_shexp.weight"],
  ["feed_forward.gate_proj.weight", "ffn_gate.weight"],
  ["feed_forward.up_proj.weight", "ffn_up.weight"],
  ["feed_forward.down_proj.weight", "ffn_down.weight"],
  ["mlp.gate_proj.weight", "ffn_gate.weight"],
  ["mlp.up_proj.weight", "ffn_up.weight"],
  ["mlp.down_proj.weight", "ffn_down.weight"],
];

/** Checkpoint tensor names the converter drops (llama.cpp: `rotary_emb.inv_freq`, attention bias buffers). */
const SKIPPED = [/\.rotary_emb\.inv_freq$/, /\.attention\.masked_bias$/, /\.attention\.bias$/];

const TOP_LEVEL: Readonly<Record<string, string>> = {
  "model.embed_tokens.weight": "token_embd.weight",
  "lm_head.weight": "output.weight",
  "model.norm.weight": "output_norm.weight",
};

const reversed = (s: readonly number[]) => [...s].reverse();

/** The text GGUF of a Llama / Llama 4 checkpoint. */
export function planLlamaText(
  ckpt: SafetensorsCheckpoint,
  cfg: CheckpointConfig,
  tok: ConvertedTokenizer,
  opts: TextPlanOptions,
): GgufPlan {
  const h = textHparams(cfg);
  const tensors: TensorDeclaration[] = [];
  let sourceBytes = 0;
  /** Declares GGUF tensor `name` (ggml `shape`), its data made for the type the rules give it. */
  const add = (name: string, shape: number[], src: TensorInfo | null, data: (type: OutFloatType) => TensorDeclaration["data"]) => {
    const type = tensorTypeFor(name, shape.length, opts.ftype);
    tensors.push({ name, shape, type, data: data(type) });
    if (src) sourceBytes += src.byteLength;
  };
  const direct = (t: TensorInfo) => (type: OutFloatType) => directSource(ckpt, t, type, opts.onRead);

  if (cfg.rope.ropeType?.toLowerCase() === "llama3") {
    const f = llama3RopeFactors(cfg, h.ropeDim);
    add("rope_freqs.weight", [f.length], null, (type) => valuesSource(f, type));
  }
  let sawLmHead = false;
  for (const t of ckpt.tensors) {
    if (isMultimodalTensor(t.name) || SKIPPED.some((re) => re.test(t.name))) continue;
    const name = t.name.replace(/^language_model\./, "");
    const top = TOP_LEVEL[name];
    if (top) {
      if (top === "output.weight") sawLmHead = true;
      add(top, reversed(t.shape), t, direct(t));
      continue;
    }
    const m = /^model\.layers\.(\d+)\.(.+)$/.exec(name);
    if (!m) throw new CheckpointConfigError(`cannot map checkpoint tensor ${t.name} to a GGUF tensor`);
    const blk = `blk.${m[1]}.`;
    const rest = m[2]!;
    if (h.arch === "llama4" && rest === "feed_forward.experts.gate_up_proj") {
      // [E, n_embd, 2·n_ff] → per expert [2·n_ff, n_embd], first half gate, second half up.
      const [E, nEmbd, twoFf] = t.shape as [number, number, number];
      const nFf = twoFf / 2;
      add(`${blk}ffn_gate_exps.weight`, [nEmbd, nFf, E], t, (type) => transposedSource(ckpt, t, type, 0, nFf, opts.onRead));
      add(`${blk}ffn_up_exps.weight`, [nEmbd, nFf, E], null, (type) => transposedSource(ckpt, t, type, nFf, nFf, opts.onRead));
      continue;
    }
    if (h.arch === "llama4" && rest === "feed_forward.experts.down_proj") {
      // [E, n_ff, n_embd] → per expert [n_embd, n_ff].
      const [E, nFf, nEmbd] = t.shape as [number, number, number];
      add(`${blk}ffn_down_exps.weight`, [nFf, nEmbd, E], t, (type) => transposedSource(ckpt, t, type, 0, nEmbd, opts.onRead));
      continue;
    }
    const entry = LAYER_MAP.find(([hf]) => hf === rest);
    if (!entry) throw new CheckpointConfigError(`cannot map checkpoint tensor ${t.name} to a GGUF tensor`);
    if (h.arch === "llama" && (rest === "self_attn.q_proj.weight" || rest === "self_attn.k_proj.weight")) {
      const heads = rest.startsWith("self_attn.q") ? h.nHead : h.nHeadKv;
      add(blk + entry[1], reversed(t.shape), t, (type) => permutedRowsSource(ckpt, t, type, heads, opts.onRead));
    } else {
      add(blk + entry[1], reversed(t.shape), t, direct(t));
    }
  }
  if (!sawLmHead && cfg.raw.tie_word_embeddings !== true && (cfg.text as Json).tie_word_embeddings !== true) {
    throw new CheckpointConfigError("checkpoint has no lm_head.weight and tie_word_embeddings is not set");
  }
  if (!tensors.some((t) => t.name === "token_embd.weight")) throw new CheckpointConfigError("checkpoint has no model.embed_tokens.weight");
  return { kvs: metadata(cfg, h, tok, opts), tensors, sourceBytes };
}
