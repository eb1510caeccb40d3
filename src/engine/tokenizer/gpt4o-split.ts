/**
 * llama.cpp's pre-tokenizer split for the GPT-4o / o200k pattern (`tokenizer.ggml.pre` "llama4",
 * "gpt-4o", …: `LLAMA_VOCAB_PRE_TYPE_GPT4O`), reproduced in TypeScript so that herd can find the words
 * of a text without handing llama.cpp's `std::regex` a long run (which recurses once per character
 * and overflows the stack near 26k characters: ggml-org/llama.cpp#27783).
 *
 * It follows `unicode_regex_split` exactly as llama.cpp runs it, not the Hugging Face original:
 * every code point ≥ 128 is first collapsed to one stand-in character for its Unicode category
 * (whitespace → `\v`, number → `\xD1`, letter → `\xD2`, punctuation → `\xD3`, mark → `\xD4`, symbol →
 * `\xD5`, anything else → `\xD0`), then llama.cpp's rewrite of the pattern (lookaheads instead of
 * `\p{Lu}`/`\p{Ll}`, so a non-ASCII letter counts as both cases and marks are not letters) runs over the
 * collapsed text. `(?=[L])[^a-z]` matches one character, so it is written here as the class it
 * equals, which V8 runs as a plain loop however long the run.
 * @module
 */

const L = "\\xD2A-Za-z"; // \p{L}, collapsed
const N = "\\xD10-9"; // \p{N}, collapsed
const UPPERISH = "[\\xD2A-Z]"; // (?=[\p{L}])([^a-z])
const LOWERISH = "[\\xD2a-z]"; // (?=[\p{L}])([^A-Z])
const CONTRACTION = "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?";

/** The collapsed form of llama.cpp's GPT4O pattern. */
const GPT4O_COLLAPSED = new RegExp(
  [
    `[^\\r\\n${L}${N}]?${UPPERISH}*${LOWERISH}+${CONTRACTION}`,
    `[^\\r\\n${L}${N}]?${UPPERISH}+${LOWERISH}*${CONTRACTION}`,
    `[${N}]{1,3}`,
    ` ?[^\\s${L}${N}]+[\\r\\n/]*`,
    "\\s*[\\r\\n]+",
    "\\s+(?!\\S)",
    "\\s+",
  ].join("|"),
  "g",
);

const WHITESPACE = /^\p{White_Space}$/u;
const CATEGORIES: Array<[RegExp, number]> = [
  [/^\p{N}$/u, 0xd1],
  [/^\p{L}$/u, 0xd2],
  [/^\p{P}$/u, 0xd3],
  [/^\p{M}$/u, 0xd4],
  [/^\p{S}$/u, 0xd5],
];

/** Code point → collapsed character code (0 = not computed yet), filled on first sight. */
const collapsedOf = new Uint8Array(0x110000);

function collapse(cp: number): number {
  if (cp < 128) return cp;
  const hit = collapsedOf[cp]!;
  if (hit !== 0) return hit;
  const ch = String.fromCodePoint(cp);
  let c = 0xd0;
  if (WHITESPACE.test(ch)) c = 0x0b;
  else
    for (const [re, code] of CATEGORIES)
      if (re.test(ch)) {
        c = code;
        break;
      }
  collapsedOf[cp] = c;
  return c;
}

/** A text as llama.cpp's splitter sees it: one collapsed character per code point. */
export interface CollapsedText {
  /** One character per code point of the original. */
  readonly collapsed: string;
  /** UTF-16 offset in the original of each code point, and the length at the end (length n + 1). */
  readonly offsets: Uint32Array;
}

/** A generator that yields every 64k code points (see `splitGpt4o`). */
function* collapseText(text: string): Generator<undefined, CollapsedText> {
  const offsets = new Uint32Array(text.length + 1);
  const codes = new Uint16Array(text.length);
  let n = 0;
  for (let i = 0; i < text.length; ) {
    const cp = text.codePointAt(i)!;
    offsets[n] = i;
    codes[n++] = collapse(cp);
    i += cp > 0xffff ? 2 : 1;
    if ((n & 0xffff) === 0) yield;
  }
  offsets[n] = text.length;
  let collapsed = "";
  for (let i = 0; i < n; i += 8192) collapsed += String.fromCharCode(...codes.subarray(i, Math.min(n, i + 8192)));
  return { collapsed, offsets: offsets.subarray(0, n + 1) };
}

/**
 * The words of `text` as UTF-16 end offsets (each word runs from the previous end), exactly as
 * llama.cpp's `unicode_regex_split` cuts it for the GPT4O pre-tokenizer: matches of the pattern, and
 * any unmatched stretch between them as a word of its own. A generator that yields every few thousand
 * words, so a caller can give the event loop a turn.
 */
export function* splitGpt4o(text: string): Generator<undefined, number[]> {
  const { collapsed, offsets } = yield* collapseText(text);
  const ends: number[] = [];
  const re = new RegExp(GPT4O_COLLAPSED.source, "g");
  let prev = 0;
  let count = 0;
  for (;;) {
    re.lastIndex = prev;
    const m = re.exec(collapsed);
    if (m === null) break;
    if (m.index > prev) ends.push(offsets[m.index]!);
    prev = m.index + m[0].length;
    ends.push(offsets[prev]!);
    if (++count % 4096 === 0) yield;
  }
  if (prev < collapsed.length) ends.push(text.length);
  return ends;
}
