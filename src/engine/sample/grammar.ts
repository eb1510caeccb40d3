/**
 * A grammar constraint on one sequence's tokens (GBNF, as llama.cpp's grammar sampler takes it).
 * The runner implements it over llama.cpp; the engine consults it after each draw:
 *
 *   1. draw as usual; 2. if the grammar rejects the token, mask the logits to what the grammar
 *   allows and draw again; 3. advance the grammar with the chosen token.
 *
 * Checking one token is cheap; masking the whole vocabulary is not (tens of ms over 202k tokens),
 * so step 2 runs only on a miss (llama.cpp's common sampler does the same), and first over the
 * most likely candidates only: when some of those are allowed, the draw is made among them — the
 * distribution is truncated to the top candidates, as top-k would — and the full mask is the
 * fallback when none is.
 * @module
 */
import type { TokenId } from "../types.js";

export interface GrammarConstraint {
  /** Whether the grammar accepts `tokenId` next. */
  allows(tokenId: TokenId): boolean;
  /** Sets the logits of every token the grammar does not accept next to -Infinity. */
  mask(logits: Float32Array): void;
  /** Of the `count` token ids in `ids`, keeps those the grammar accepts next (in place); returns how many. */
  filter(ids: Int32Array, count: number): number;
  /** Advances the grammar past `tokenId` (which must be allowed). */
  accept(tokenId: TokenId): void;
  dispose(): void;
}
