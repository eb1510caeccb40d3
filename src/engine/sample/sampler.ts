/**
 * The per-sequence sampler: raw logits of one position in, one token id (and its logprobs) out.
 * @module
 */

import { InternalError } from "../../common/errors.js";
import type { GeneratedTokenLogprobs, SamplingParams, TokenId } from "../types.js";
import { drawToken, type DrawStats } from "./draw.js";
import { computeLogprobs } from "./logprobs.js";
import { createPrng, type Prng } from "./prng.js";
import { argmaxLogit, MAX_VOCAB_SIZE } from "./vocab-math.js";

export interface SamplerOptions {
  /** For the repetition penalty, which also counts prompt tokens. */
  promptTokenIds: readonly TokenId[];
  /** End-of-generation ids, banned while fewer than `minTokens` tokens are generated (unless `ignoreEos`). */
  eogTokenIds: readonly TokenId[];
  /** Must equal the length of every logits array passed to `sample`. */
  vocabSize: number;
  /** Index of this completion among the request's n: selects an independent random stream of the seed. */
  seedOffset?: number;
}

export interface SampleResult {
  tokenId: TokenId;
  /** Present when `params.logprobs` is defined; every `bytes` is [] for the engine to fill. */
  logprobs?: GeneratedTokenLogprobs;
}

/**
 * One instance per generated sequence. `sample(logits)` runs, in this order:
 *
 * 1. **Save.** The raw logits are never copied: steps 2–5 touch only a sparse set of tokens (biased,
 *    banned, seen), so their raw values are saved first and restored before `sample` returns; the caller's
 *    array is unchanged afterwards (but is written to while `sample` runs: do not pass memory another
 *    thread reads at the same time). Nothing is saved when no step applies.
 * 2. **logit_bias**: add the bias of each listed token.
 * 3. **min_tokens**: while fewer than `minTokens` tokens have been accepted, set the logits of the EOG ids
 *    (unless `ignoreEos`) and of `stopTokenIds` to -Infinity.
 * 4. **Repetition penalty** (llama.cpp/vLLM): for every distinct token of the prompt or the output, divide
 *    a positive logit by the penalty, multiply a negative one.
 * 5. **Presence/frequency penalties** (OpenAI): for every token of the output,
 *    logit -= count × frequencyPenalty + presencePenalty.
 * 6. **Choose.** temperature 0: greedy argmax, one pass, lowest id on ties. Otherwise scale by
 *    1/temperature, truncate by top-k, then top-p, then min-p (see `draw.ts`, which never sorts the
 *    vocabulary), and draw with the sequence's PRNG: seeded by (seed, seedOffset) when a seed is given, so
 *    the same request gives the same tokens on every machine for the same logits; from the OS otherwise.
 *    Exactly one random number is consumed per non-greedy step.
 * 7. **Restore** the values saved in step 1.
 * 8. **Logprobs** (when `params.logprobs` is defined): log_softmax of the raw logits (vLLM's default
 *    "raw_logprobs"): the chosen token's logprob and the `logprobs` most likely tokens, most likely first.
 *
 * `accept(tokenId)` must be called with each token actually appended to the sequence; it feeds steps 3–5.
 */
export class Sampler {
  private readonly params: SamplingParams;
  private readonly vocabSize: number;
  private readonly prng: Prng | null;
  private readonly biasIds: Int32Array;
  private readonly biasValues: Float64Array;
  private readonly bannedIds: Int32Array;
  private readonly usesRepetition: boolean;
  private readonly usesPresenceFrequency: boolean;
  /** Distinct tokens of the prompt and the output (repetition penalty only). */
  private readonly seen = new Set<TokenId>();
  private readonly seenIds: TokenId[] = [];
  /** Output token → index into outputIds/outputCounts (presence/frequency penalties only). */
  private readonly outputIndex = new Map<TokenId, number>();
  private readonly outputIds: TokenId[] = [];
  private readonly outputCounts: number[] = [];
  /** Every token steps 2–5 may change, each once, and room for their saved raw values. */
  private readonly touched = new Set<TokenId>();
  private readonly touchedIds: TokenId[] = [];
  private saved = new Float32Array(16);
  private numGenerated = 0;
  private readonly drawStats: DrawStats = { maxLogit: NaN, sumExp: NaN };

  constructor(params: SamplingParams, opts: SamplerOptions) {
    const { vocabSize } = opts;
    if (!Number.isInteger(vocabSize) || vocabSize < 1 || vocabSize > MAX_VOCAB_SIZE) {
      throw new InternalError(`Sampler: vocabSize must be an integer between 1 and ${MAX_VOCAB_SIZE} (got ${vocabSize})`);
    }
    this.params = params;
    this.vocabSize = vocabSize;
    this.prng = params.temperature > 0 ? createPrng(params.seed, opts.seedOffset ?? 0) : null;
    const inVocab = (id: TokenId): boolean => Number.isInteger(id) && id >= 0 && id < vocabSize;

    const bias = Object.entries(params.logitBias ?? {}).filter(([id, b]) => b !== 0 && inVocab(Number(id)));
    this.biasIds = Int32Array.from(bias, ([id]) => Number(id));
    this.biasValues = Float64Array.from(bias, ([, b]) => b);
    const banned = params.minTokens > 0 ? [...params.stopTokenIds, ...(params.ignoreEos ? [] : opts.eogTokenIds)] : [];
    this.bannedIds = Int32Array.from(new Set(banned.filter(inVocab)));
    this.usesRepetition = params.repetitionPenalty !== 1;
    this.usesPresenceFrequency = params.presencePenalty !== 0 || params.frequencyPenalty !== 0;

    for (const id of this.biasIds) this.touch(id);
    for (const id of this.bannedIds) this.touch(id);
    if (this.usesRepetition) for (const id of opts.promptTokenIds) if (inVocab(id)) this.markSeen(id);
  }

  /** Tokens accepted so far. */
  get numGeneratedTokens(): number {
    return this.numGenerated;
  }

  /** Records a token appended to the sequence (the penalty state and the min_tokens count). */
  accept(tokenId: TokenId): void {
    if (!Number.isInteger(tokenId) || tokenId < 0 || tokenId >= this.vocabSize) {
      throw new InternalError(`Sampler.accept: token id must be an integer between 0 and ${this.vocabSize - 1} (got ${tokenId})`);
    }
    this.numGenerated++;
    if (this.usesRepetition) this.markSeen(tokenId);
    if (this.usesPresenceFrequency) {
      const index = this.outputIndex.get(tokenId);
      if (index === undefined) {
        this.outputIndex.set(tokenId, this.outputIds.length);
        this.outputIds.push(tokenId);
        this.outputCounts.push(1);
        this.touch(tokenId);
      } else {
        this.outputCounts[index] = this.outputCounts[index]! + 1;
      }
    }
  }

  /** Chooses the next token from `logits` (length vocabSize). Does not call `accept`. */
  sample(logits: Float32Array): SampleResult {
    if (logits.length !== this.vocabSize) {
      throw new InternalError(`Sampler.sample: expected ${this.vocabSize} logits (got ${logits.length})`);
    }
    const numSaved = this.applyEdits(logits);
    let tokenId: TokenId;
    try {
      tokenId = this.choose(logits);
    } finally {
      this.restore(logits, numSaved);
    }
    const numTop = this.params.logprobs;
    if (numTop === undefined) return { tokenId };
    return { tokenId, logprobs: computeLogprobs(logits, tokenId, numTop, this.rawLogSumExpHint(numSaved)) };
  }

  private choose(logits: Float32Array): TokenId {
    const { params } = this;
    if (params.temperature === 0 || this.prng === null) {
      const id = argmaxLogit(logits);
      if (id < 0) throw this.noCandidates(logits);
      return id;
    }
    this.drawStats.sumExp = NaN;
    const id = drawToken(logits, params, this.prng.nextDouble(), this.drawStats);
    if (id < 0) throw this.noCandidates(logits);
    return id;
  }

  /** log Σ exp(raw logits) when the draw already computed it (temperature 1, no edits, full pass). */
  private rawLogSumExpHint(numSaved: number): number | undefined {
    const { maxLogit: max, sumExp } = this.drawStats;
    if (numSaved > 0 || this.params.temperature !== 1 || !(sumExp > 0)) return undefined;
    return max + Math.log(sumExp);
  }

  private noCandidates(logits: Float32Array): InternalError {
    let numNaN = 0;
    for (const v of logits) if (Number.isNaN(v)) numNaN++;
    return new InternalError(
      `Sampler: no token can be sampled: all ${logits.length} logits are -Infinity, NaN or +Infinity after bias and bans ` +
        `(${numNaN} NaN); the model produced an unusable distribution`,
    );
  }

  /** Steps 1–5; returns how many raw values were saved (0 = logits untouched). */
  private applyEdits(logits: Float32Array): number {
    const isBanning = this.numGenerated < this.params.minTokens && this.bannedIds.length > 0;
    const hasEdits = this.biasIds.length > 0 || isBanning || this.seenIds.length > 0 || this.outputIds.length > 0;
    if (!hasEdits) return 0;
    const ids = this.touchedIds;
    const numSaved = ids.length;
    if (this.saved.length < numSaved) this.saved = new Float32Array(Math.max(numSaved, 2 * this.saved.length));
    const saved = this.saved;
    for (let j = 0; j < numSaved; j++) saved[j] = logits[ids[j]!]!;

    for (let j = 0; j < this.biasIds.length; j++) {
      const id = this.biasIds[j]!;
      logits[id] = logits[id]! + this.biasValues[j]!;
    }
    if (isBanning) for (const id of this.bannedIds) logits[id] = -Infinity;
    if (this.usesRepetition) {
      const penalty = this.params.repetitionPenalty;
      for (const id of this.seenIds) {
        const v = logits[id]!;
        logits[id] = v > 0 ? v / penalty : v * penalty;
      }
    }
    if (this.usesPresenceFrequency) {
      const { presencePenalty, frequencyPenalty } = this.params;
      for (let j = 0; j < this.outputIds.length; j++) {
        const id = this.outputIds[j]!;
        logits[id] = logits[id]! - (this.outputCounts[j]! * frequencyPenalty + presencePenalty);
      }
    }
    return numSaved;
  }

  private restore(logits: Float32Array, numSaved: number): void {
    const ids = this.touchedIds;
    for (let j = 0; j < numSaved; j++) logits[ids[j]!] = this.saved[j]!;
  }

  private markSeen(id: TokenId): void {
    if (this.seen.has(id)) return;
    this.seen.add(id);
    this.seenIds.push(id);
    this.touch(id);
  }

  private touch(id: TokenId): void {
    if (this.touched.has(id)) return;
    this.touched.add(id);
    this.touchedIds.push(id);
  }
}
