import { describe, expect, it } from "vitest";
import { IncrementalDetokenizer } from "./detokenizer.js";

const utf8 = new TextEncoder();

/** A vocabulary whose token i is pieces[i]. */
function detokenizerOver(pieces: Uint8Array[]): IncrementalDetokenizer {
  return new IncrementalDetokenizer((id) => pieces[id]!);
}

/** Pushes every token; returns the emitted chunks and the flushed tail. */
function run(pieces: Uint8Array[]): { chunks: string[]; tail: string } {
  const d = detokenizerOver(pieces);
  const chunks = pieces.map((_, id) => d.push(id));
  return { chunks, tail: d.flush() };
}

/** True when s contains a lone surrogate (half of an astral character). */
function hasLoneSurrogate(s: string): boolean {
  return /[\uD800-\uDFFF]/u.test(s);
}

describe("IncrementalDetokenizer", () => {
  it("passes ASCII and whole characters straight through", () => {
    const { chunks, tail } = run([utf8.encode("Hello"), utf8.encode(", "), utf8.encode("wörld"), utf8.encode("!")]);
    expect(chunks).toEqual(["Hello", ", ", "wörld", "!"]);
    expect(tail).toBe("");
  });

  const samples = ["é", "€", "中", "😀", "👍🏽", "a€b😀c", "👨‍👩‍👧"];
  for (const text of samples) {
    it(`never emits half of ${JSON.stringify(text)} at any split point, and reassembles it exactly`, () => {
      const bytes = utf8.encode(text);
      // Every way to cut the bytes into two or three tokens.
      for (let i = 0; i <= bytes.length; i++) {
        for (let j = i; j <= bytes.length; j++) {
          const pieces = [bytes.slice(0, i), bytes.slice(i, j), bytes.slice(j)];
          const { chunks, tail } = run(pieces);
          for (const chunk of chunks) {
            expect(chunk).not.toContain("\uFFFD");
            expect(hasLoneSurrogate(chunk)).toBe(false);
          }
          expect(chunks.join("") + tail).toBe(text);
          expect(tail).toBe("");
        }
      }
    });
  }

  it("handles one byte per token for a long multilingual text", () => {
    const text = "naïve café — 東京 😀 Ελληνικά 🇫🇷";
    const bytes = utf8.encode(text);
    const pieces = Array.from(bytes, (b) => Uint8Array.of(b));
    const { chunks, tail } = run(pieces);
    expect(chunks.join("") + tail).toBe(text);
    expect(chunks.some((c) => c === "")).toBe(true); // held back mid-character
  });

  it("holds an incomplete tail back, then emits U+FFFD for it on flush", () => {
    const euro = utf8.encode("€");
    const d = detokenizerOver([utf8.encode("ab"), euro.slice(0, 2)]);
    expect(d.push(0)).toBe("ab");
    expect(d.push(1)).toBe("");
    expect(d.flush()).toBe("\uFFFD");
    expect(d.numPushedTokens).toBe(2);
  });

  it("replaces invalid bytes with U+FFFD like TextDecoder, without swallowing the text around them", () => {
    const pieces = [Uint8Array.of(0x61, 0xff, 0x62), Uint8Array.of(0xc3), Uint8Array.of(0x28), Uint8Array.of(0xed, 0xa0, 0x80)];
    const { chunks, tail } = run(pieces);
    const whole = new TextDecoder().decode(Uint8Array.of(0x61, 0xff, 0x62, 0xc3, 0x28, 0xed, 0xa0, 0x80));
    expect(chunks.join("") + tail).toBe(whole);
    expect(chunks[0]).toBe("a\uFFFDb");
    expect(chunks[1]).toBe(""); // 0xC3 may start "é": held back
    expect(chunks[2]).toBe("\uFFFD("); // it did not
  });

  it("keeps a byte-order mark the model generated", () => {
    const { chunks } = run([utf8.encode("\uFEFFx")]);
    expect(chunks[0]).toBe("\uFEFFx");
  });

  it("handles empty pieces (e.g. hidden special tokens)", () => {
    const { chunks } = run([new Uint8Array(0), utf8.encode("x"), new Uint8Array(0)]);
    expect(chunks).toEqual(["", "x", ""]);
  });
});
