/**
 * Byte-level BPE over one word, as llama.cpp's `llm_tokenizer_bpe_session` does it: the word's bytes
 * as GPT-2 byte characters, every adjacent pair with a merge rank in a priority queue (lowest rank
 * first, then leftmost), merges applied until none is left, each symbol looked up in the vocabulary
 * (bytes of an unknown symbol one by one). herd runs it only for words too long to hand to llama.cpp
 * (see `safe-tokenizer.ts`); the result is llama.cpp's, token for token.
 * @module
 */
import type { TokenId } from "../types.js";

/** The vocabulary and merges of a GGUF (`tokenizer.ggml.tokens`, `tokenizer.ggml.merges`). */
export interface BpeTables {
  /** Token text → id (the last id wins for a repeated text, as in llama.cpp). */
  readonly tokenIds: ReadonlyMap<string, TokenId>;
  /** `"left right"` → rank (position in the merges list). */
  readonly ranks: ReadonlyMap<string, number>;
}

export function bpeTables(tokens: readonly string[], merges: readonly string[]): BpeTables {
  const tokenIds = new Map<string, TokenId>();
  for (let i = 0; i < tokens.length; i++) tokenIds.set(tokens[i]!, i);
  const ranks = new Map<string, number>();
  for (let i = 0; i < merges.length; i++) {
    const m = merges[i]!;
    // llama.cpp splits each merge at the first space after its first character.
    const at = m.indexOf(" ", 1);
    if (at < 0) continue;
    const key = `${m.slice(0, at)} ${m.slice(at + 1)}`;
    if (!ranks.has(key)) ranks.set(key, i);
  }
  return { tokenIds, ranks };
}

/** GPT-2's byte → printable character table (`bytes_to_unicode`). */
const BYTE_CHARS: string[] = (() => {
  const out = new Array<string>(256);
  let n = 0;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
    out[b] = String.fromCodePoint(printable ? b : 256 + n++);
  }
  return out;
})();

/** A binary min-heap of candidate merges ordered by (rank, left). */
class MergeQueue {
  readonly #rank: number[] = [];
  readonly #left: number[] = [];
  readonly #right: number[] = [];
  readonly #text: string[] = [];

  get size(): number {
    return this.#rank.length;
  }

  #less(i: number, j: number): boolean {
    const a = this.#rank[i]!;
    const b = this.#rank[j]!;
    return a < b || (a === b && this.#left[i]! < this.#left[j]!);
  }

  #swap(i: number, j: number): void {
    for (const arr of [this.#rank, this.#left, this.#right] as number[][]) [arr[i], arr[j]] = [arr[j]!, arr[i]!];
    [this.#text[i], this.#text[j]] = [this.#text[j]!, this.#text[i]!];
  }

  push(rank: number, left: number, right: number, text: string): void {
    let i = this.#rank.length;
    this.#rank.push(rank);
    this.#left.push(left);
    this.#right.push(right);
    this.#text.push(text);
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.#less(i, p)) break;
      this.#swap(i, p);
      i = p;
    }
  }

  /** Removes the top entry; returns [left, right, text]. */
  pop(): [number, number, string] {
    const top: [number, number, string] = [this.#left[0]!, this.#right[0]!, this.#text[0]!];
    const last = this.#rank.length - 1;
    this.#swap(0, last);
    this.#rank.pop();
    this.#left.pop();
    this.#right.pop();
    this.#text.pop();
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < last && this.#less(l, m)) m = l;
      if (r < last && this.#less(r, m)) m = r;
      if (m === i) break;
      this.#swap(i, m);
      i = m;
    }
    return top;
  }
}

/**
 * The tokens of one pre-tokenizer word. A generator that yields every few thousand merges, so a
 * caller can give the event loop a turn during a very long word.
 */
export function* bpeWord(word: string, tables: BpeTables): Generator<void, TokenId[]> {
  const bytes = Buffer.from(word, "utf8");
  const n = bytes.length;
  const text: string[] = new Array(n);
  for (let i = 0; i < n; i++) text[i] = BYTE_CHARS[bytes[i]!]!;
  const prev = new Int32Array(n);
  const next = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    prev[i] = i - 1;
    next[i] = i + 1 < n ? i + 1 : -1;
  }
  const queue = new MergeQueue();
  const addPair = (left: number, right: number) => {
    if (left < 0 || right < 0) return;
    const rank = tables.ranks.get(`${text[left]} ${text[right]}`);
    if (rank !== undefined) queue.push(rank, left, right, text[left]! + text[right]!);
  };
  for (let i = 1; i < n; i++) addPair(i - 1, i);
  let steps = 0;
  while (queue.size > 0) {
    const [left, right, merged] = queue.pop();
    const lt = text[left]!;
    const rt = text[right]!;
    if (lt === "" || rt === "" || lt + rt !== merged) continue; // outdated
    text[left] = merged;
    text[right] = "";
    next[left] = next[right]!;
    if (next[right]! >= 0) prev[next[right]!] = left;
    addPair(prev[left]!, left);
    addPair(left, next[left]!);
    if (++steps % 8192 === 0) yield;
  }
  const out: TokenId[] = [];
  for (let i = 0; i < n; i++) {
    const sym = text[i]!;
    if (sym === "") continue;
    const id = tables.tokenIds.get(sym);
    if (id !== undefined) {
      out.push(id);
      continue;
    }
    // llama.cpp's fallback: each byte of the symbol's UTF-8 as a one-byte token text (only ASCII can be one).
    for (const b of Buffer.from(sym, "utf8")) {
      const byteId = b < 0x80 ? tables.tokenIds.get(String.fromCharCode(b)) : undefined;
      if (byteId !== undefined) out.push(byteId);
    }
  }
  return out;
}
