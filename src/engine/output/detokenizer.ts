/**
 * Token ids → text, incrementally. llama.cpp's byte-level vocabularies split multi-byte UTF-8 characters
 * across tokens, so a token's bytes may end mid-character: the decoder holds such a tail back until the
 * bytes that complete it arrive, and never emits half a character (llama.cpp's `validate_utf8()` in
 * tools/server does the same).
 *
 * Decoding is WHATWG TextDecoder's, non-fatal and streaming: invalid bytes become U+FFFD (one per maximal
 * invalid subpart), and a byte-order mark is kept as text (a model may well generate U+FEFF).
 * @module
 */

import type { TokenId } from "../types.js";

export class IncrementalDetokenizer {
  private readonly decoder = new TextDecoder("utf-8", { fatal: false, ignoreBOM: true });
  private numTokens = 0;

  /** @param pieceOf the UTF-8 bytes of a token (possibly a partial character, possibly empty) */
  constructor(private readonly pieceOf: (tokenId: TokenId) => Uint8Array) {}

  /** Tokens pushed so far. */
  get numPushedTokens(): number {
    return this.numTokens;
  }

  /** Appends a token; returns the text it completes (possibly ""), holding back an incomplete UTF-8 tail. */
  push(tokenId: TokenId): string {
    this.numTokens++;
    return this.decoder.decode(this.pieceOf(tokenId), { stream: true });
  }

  /**
   * Ends the stream: returns U+FFFD if an incomplete character was held back, else "". The detokenizer can
   * be pushed to again afterwards, as a fresh stream.
   */
  flush(): string {
    return this.decoder.decode();
  }
}
