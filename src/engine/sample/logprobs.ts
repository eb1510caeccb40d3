/**
 * Log-probabilities of the raw model distribution (vLLM's default `logprobs_mode = "raw_logprobs"`):
 * log_softmax(logits) before bias, penalties, temperature and truncation.
 * @module
 */

import type { GeneratedTokenLogprobs, TokenId } from "../types.js";
import { logSumExp, maxLogit, selectTopK } from "./vocab-math.js";

let topIds = new Int32Array(32);

/**
 * The chosen token's raw logprob and the `numTop` most likely alternatives (most likely first, ties by
 * lowest id). `bytes` are left empty for the caller (the engine knows the vocabulary). `logSumExpHint`, when
 * given, is log Σ exp(logits) already computed by the draw and saves a pass.
 */
export function computeLogprobs(logits: Float32Array, chosen: TokenId, numTop: number, logSumExpHint?: number): GeneratedTokenLogprobs {
  if (topIds.length < numTop) topIds = new Int32Array(numTop);
  const numFound = numTop > 0 ? selectTopK(logits, numTop, topIds) : 0;
  let logZ = logSumExpHint;
  if (logZ === undefined) {
    const max = numFound > 0 ? logits[topIds[0]!]! : maxLogit(logits);
    logZ = logSumExp(logits, max);
  }
  const top = new Array<GeneratedTokenLogprobs["top"][number]>(numFound);
  for (let j = 0; j < numFound; j++) {
    const id = topIds[j]!;
    top[j] = { tokenId: id, bytes: [], logprob: logits[id]! - logZ };
  }
  return { tokenId: chosen, bytes: [], logprob: logits[chosen]! - logZ, top };
}
