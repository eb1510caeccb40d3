/**
 * Parameter counts, weight bytes and KV-cache bytes (llama4.md §2). Exact integer arithmetic: the
 * totals stay far below 2^53.
 * @module
 */
import type { ModelSpec, VisionSpec } from "./model-spec.js";

export interface ParamCounts {
  readonly total: number;
  /** Per text token: attention, norms, router, the chosen experts + shared expert (or the dense FFN), both embedding tables. */
  readonly active: number;
  readonly text: number;
  readonly vision: number;
  /** Routed-expert parameters (the part MoE makes sparse). */
  readonly routedExperts: number;
}

function visionParams(v: VisionSpec): number {
  const h = v.hiddenSize;
  const layer = 4 * (h * h + h) + (h * v.intermediateSize + v.intermediateSize) + (v.intermediateSize * h + h) + 2 * 2 * h;
  const patches = (v.imageSize / v.patchSize) ** 2;
  const encoder = v.numLayers * layer + v.patchSize ** 2 * v.numChannels * h + (patches + 1) * h + h + 2 * 2 * h;
  const shuffled = h / v.pixelShuffleRatio ** 2;
  const adapter = shuffled * v.projectorInputDim + v.projectorInputDim * v.projectorOutputDim;
  return encoder + adapter;
}

/** Exact counts from the config (or the GGUF's tensors when the spec was measured). */
export function countParams(m: ModelSpec): ParamCounts {
  const h = m.hiddenSize;
  const attention = h * m.numAttentionHeads * m.headDim + 2 * h * m.numKvHeads * m.headDim + m.numAttentionHeads * m.headDim * h;
  const norms = 2 * h;
  const expert = 3 * h * m.expertIntermediateSize;
  const dense = 3 * h * m.denseIntermediateSize;
  const router = h * m.numExperts;
  const shared = m.hasSharedExpert ? expert : 0;
  const numMoe = m.moeLayers.length;
  const numDense = m.numLayers - numMoe;
  const embed = m.vocabSize * h;
  const outer = embed * (m.tieWordEmbeddings ? 1 : 2) + h;
  const routed = numMoe * m.numExperts * expert;
  const text = m.numLayers * (attention + norms) + numMoe * (router + shared) + routed + numDense * dense + outer;
  const activeLayers = m.numLayers * (attention + norms) + numMoe * (router + shared + m.numExpertsPerToken * expert) + numDense * dense;
  const vision = m.vision ? visionParams(m.vision) + m.vision.visionOutputDim * h : 0;
  if (m.measured) {
    return {
      total: m.measured.totalParams,
      active: m.measured.activeParams,
      text: m.measured.totalParams,
      vision: 0,
      routedExperts: routed,
    };
  }
  return { total: text + vision, active: activeLayers + embed * 2 + h, text, vision, routedExperts: routed };
}

export type WeightDtype = "bf16" | "fp8" | "q8_0" | "q4_k_m";
export const WEIGHT_DTYPES: readonly WeightDtype[] = ["bf16", "fp8", "q8_0", "q4_k_m"];

/**
 * Bytes per parameter. bf16 and fp8 are exact (fp8 scales ignored, llama4.md §2.3 "FP8 everything");
 * q8_0 is 34 bytes per block of 32; q4_k_m mixes Q4_K (4.5 bits) with Q6_K for half of the
 * `ffn_down`/`attn_v` tensors and the output matrix: about 4.85 bits per weight, an estimate.
 */
export const BYTES_PER_PARAM: Readonly<Record<WeightDtype, number>> = { bf16: 2, fp8: 1, q8_0: 34 / 32, q4_k_m: 4.85 / 8 };
export const EXACT_DTYPES: ReadonlySet<WeightDtype> = new Set(["bf16", "fp8"]);

export function weightBytes(m: ModelSpec, dtype: WeightDtype): number {
  if (m.measured) return m.measured.weightBytes;
  return Math.ceil(countParams(m).total * BYTES_PER_PARAM[dtype]);
}

export type KvDtype = "bf16" | "fp8";
export const KV_BYTES_PER_ELEMENT: Readonly<Record<KvDtype, number>> = { bf16: 2, fp8: 1 };

export interface KvShape {
  /** Bytes per token per layer for K and V together. */
  readonly perLayerPerToken: number;
  /** Bytes per token summed over the layers that keep every token. */
  readonly globalPerToken: number;
  /** Bytes per token summed over the chunked layers (they keep at most `chunk` tokens). */
  readonly chunkedPerToken: number;
  /** null = no chunked attention. */
  readonly chunk: number | null;
}

export function kvShape(m: ModelSpec, kvDtype: KvDtype = "bf16"): KvShape {
  const perLayer = 2 * m.numKvHeads * m.headDim * KV_BYTES_PER_ELEMENT[kvDtype];
  const chunked = m.attentionChunkSize ? m.chunkedLayers.length : 0;
  return {
    perLayerPerToken: perLayer,
    globalPerToken: (m.numLayers - chunked) * perLayer,
    chunkedPerToken: chunked * perLayer,
    chunk: chunked > 0 ? m.attentionChunkSize : null,
  };
}

/** KV bytes of one sequence of `tokens` tokens: for Llama 4 bf16, 49,152·L + 147,456·min(L, 8192). */
export function kvBytes(kv: KvShape, tokens: number): number {
  return kv.globalPerToken * tokens + kv.chunkedPerToken * (kv.chunk === null ? tokens : Math.min(tokens, kv.chunk));
}

/** The same KV shape with every layer keeping every token (what an engine without chunked-attention support allocates). */
export function flatKvShape(kv: KvShape): KvShape {
  return { ...kv, globalPerToken: kv.globalPerToken + kv.chunkedPerToken, chunkedPerToken: 0, chunk: null };
}

/** KV bytes if every layer kept every token (what an engine without chunked-attention support allocates). */
export function kvBytesNaive(kv: KvShape, tokens: number): number {
  return (kv.globalPerToken + kv.chunkedPerToken) * tokens;
}

/** The largest L with kvBytes(kv, L) ≤ budget (0 if none); Infinity when KV does not grow with L. */
export function maxTokensForKv(kv: KvShape, budget: number): number {
  if (budget <= 0) return 0;
  const full = kv.globalPerToken + kv.chunkedPerToken;
  if (kv.chunk === null) return Math.floor(budget / full);
  const atChunk = full * kv.chunk;
  if (budget < atChunk) return Math.floor(budget / full);
  if (kv.globalPerToken === 0) return Number.POSITIVE_INFINITY;
  return Math.floor((budget - kv.chunkedPerToken * kv.chunk) / kv.globalPerToken);
}
