/**
 * Random draw from softmax(logits / temperature) truncated by top-k, then top-p, then min-p (llama.cpp's
 * order), without sorting the vocabulary.
 *
 * Two paths:
 * - **Small top-k** (k ≤ HEAP_TOP_K): a k-heap selects the candidates in one pass; top-p, min-p and the
 *   draw run over those k, sorted.
 * - **Dense** (no top-k, or a large one; dense-draw.ts): one exp pass fills a histogram of 1/256-nat
 *   buckets over z = (logit - max) / T; top-k, top-p and min-p are each resolved inside one boundary bucket
 *   (a weighted quickselect over its members: typically a few hundred tokens even for a flat 200k
 *   distribution, where the nucleus is most of the vocabulary); the draw scans one bucket.
 *
 * Tokens with z < Z_FLOOR (-40: probability below 4e-18 of the top token's) count as impossible, and NaN
 * logits too. Every truncation keeps a prefix of one total order: z descending, then id ascending.
 *
 * All scratch memory is module-level and reused: `drawToken` is synchronous and not re-entrant, so the
 * samplers of one thread share it instead of each holding vocabulary-sized buffers.
 * @module
 */

import type { TokenId } from "../types.js";
import { DenseDraw } from "./dense-draw.js";
import { expAt, expIndex, maxLogit, selectTopK, Z_FLOOR } from "./vocab-math.js";

export interface Truncation {
  /** > 0. */
  temperature: number;
  /** 0 (or ≥ vocabulary size) = disabled. */
  topK: number;
  /** 1 = disabled. */
  topP: number;
  /** 0 = disabled. */
  minP: number;
}

/** What the dense pass learned about the whole distribution, for reuse by the logprobs (see `Sampler`). */
export interface DrawStats {
  /** The largest logit. */
  maxLogit: number;
  /** Σ exp((logit - maxLogit) / T) over every token with z ≥ Z_FLOOR; NaN when the pass did not cover them all. */
  sumExp: number;
}

/**
 * k up to this uses the heap path: on unsorted logits a k-heap takes ~k·(1 + ln(V/k)) insertions, far
 * cheaper than the dense pass's exps even at k = 2048 (~13k insertions for V = 202k).
 */
export const HEAP_TOP_K = 2048;
const candidateIds = new Int32Array(HEAP_TOP_K);
const candidateWeights = new Float64Array(HEAP_TOP_K);

/**
 * Draws one token with the uniform variate `u` ∈ [0, 1); -1 when no token is possible (no finite
 * maximum: every logit NaN or -Infinity, or some +Infinity). When `stats` is given, the dense path fills it.
 */
export function drawToken(logits: Float32Array, t: Truncation, u: number, stats?: DrawStats): TokenId {
  const vocabSize = logits.length;
  const k = t.topK > 0 && t.topK < vocabSize ? t.topK : 0;
  const zMin = t.minP > 0 ? Math.log(t.minP) : -Infinity;
  if (k > 0 && k <= HEAP_TOP_K) return drawFromTopK(logits, k, t, zMin, u);
  const max = maxLogit(logits);
  if (!Number.isFinite(max)) return -1;
  return new DenseDraw(logits, max, 1 / t.temperature, t.topP < 1 ? Z_FLOOR : Math.max(Z_FLOOR, zMin)).draw(k, t.topP, zMin, u, stats);
}

function drawFromTopK(logits: Float32Array, k: number, t: Truncation, zMin: number, u: number): TokenId {
  const numCandidates = selectTopK(logits, k, candidateIds);
  const ids = candidateIds;
  const weights = candidateWeights;
  const top = numCandidates > 0 ? logits[ids[0]!]! : NaN;
  if (!Number.isFinite(top)) return -1;
  const invT = 1 / t.temperature;
  let total = 0;
  for (let j = 0; j < numCandidates; j++) {
    const z = (logits[ids[j]!]! - top) * invT;
    weights[j] = z >= Z_FLOOR ? expAt(z, expIndex(z)) : 0;
    total += weights[j]!;
  }
  let keep = numCandidates;
  if (t.topP < 1) {
    const target = t.topP * total;
    let cum = 0;
    for (let j = 0; j < numCandidates; j++) {
      cum += weights[j]!;
      if (cum >= target) {
        keep = j + 1;
        break;
      }
    }
  }
  let aboveMinP = 1;
  while (aboveMinP < keep && (logits[ids[aboveMinP]!]! - top) * invT >= zMin) aboveMinP++;
  keep = aboveMinP;
  let kept = 0;
  for (let j = 0; j < keep; j++) kept += weights[j]!;
  const target = u * kept;
  let cum = 0;
  for (let j = 0; j < keep; j++) {
    cum += weights[j]!;
    if (cum > target) return ids[j]!;
  }
  // Only reachable through rounding (u·kept rounded up to kept): the last token of non-zero weight.
  let last = keep - 1;
  while (last > 0 && weights[last] === 0) last--;
  return ids[last]!;
}

/** Every path once on a tiny vocabulary when the module loads: see `warmUp` in vocab-math.ts for why. */
function warmUp(): void {
  const varied = Float32Array.from({ length: 64 }, (_, i) => Math.sin(i) * 3);
  const flat = new Float32Array(64);
  const flatNegative = new Float32Array(64).fill(-1);
  const stats: DrawStats = { maxLogit: 0, sumExp: 0 };
  for (const logits of [varied, flat, flatNegative]) {
    for (const t of [
      { temperature: 1, topK: 0, topP: 1, minP: 0 },
      { temperature: 0.7, topK: 0, topP: 0.5, minP: 0.2 },
      { temperature: 1, topK: 0, topP: 1, minP: 0.3 },
      { temperature: 1, topK: 5, topP: 0.5, minP: 0.1 },
    ]) {
      for (const u of [0.1, 0.6, 0.99]) drawToken(logits, t, u, stats);
    }
  }
}
warmUp();
