/**
 * Byte-level BPE over one word, as llama.cpp's `llm_tokenizer_bpe_session` does it: the word's bytes
 * as GPT-2 byte characters, every adjacent pair with a merge rank in a priority queue (lowest rank
 * first, then leftmost), merges applied until none is left, each symbol looked up in the vocabulary.
 * herd runs it only for words too long to hand to llama.cpp (see `safe-tokenizer.ts`); the result is
 * llama.cpp's, token for token.
 *
 * Symbols are token ids rather than strings (every merge's parts and result are tokens), so a word of
 * a million bytes allocates typed arrays, not a million strings. A queue entry is stale when either
 * side changed since it was queued, which is when llama.cpp's text comparison fails.
 * @module
 */
import type { TokenId } from "../types.js";

/** The merges of a GGUF as token-id pairs. */
export interface BpeTables {
  /** Token id of each byte's GPT-2 character (-1: not in the vocabulary). */
  readonly byteIds: Int32Array;
  /** `pairKey(left, right)` → index into `rank` / `merged`. */
  readonly pairs: ReadonlyMap<number, number>;
  readonly rank: Int32Array;
  readonly merged: Int32Array;
}

const pairKey = (left: number, right: number): number => left * 0x400000 + right;

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

/**
 * Builds the tables from `tokenizer.ggml.tokens` and `tokenizer.ggml.merges`; a generator that yields
 * every 16k entries. A merge whose parts or result are not tokens can never apply (llama.cpp would
 * find no token for its result either) and is left out.
 */
export function* bpeTables(tokens: readonly string[], merges: readonly string[]): Generator<undefined, BpeTables> {
  if (tokens.length > 0x400000) throw new Error("vocabulary too large for herd's BPE tables");
  const ids = new Map<string, TokenId>();
  for (let i = 0; i < tokens.length; i++) {
    ids.set(tokens[i]!, i); // the last id wins for a repeated text, as in llama.cpp
    if ((i & 0x3fff) === 0) yield;
  }
  const byteIds = new Int32Array(256).map((_, b) => ids.get(BYTE_CHARS[b]!) ?? -1);
  const pairs = new Map<number, number>();
  const rank: number[] = [];
  const merged: number[] = [];
  for (let i = 0; i < merges.length; i++) {
    if ((i & 0x3fff) === 0) yield;
    const m = merges[i]!;
    // llama.cpp splits each merge at the first space after its first character.
    const at = m.indexOf(" ", 1);
    if (at < 0) continue;
    const a = m.slice(0, at);
    const b = m.slice(at + 1);
    const left = ids.get(a);
    const right = ids.get(b);
    const result = ids.get(a + b);
    if (left === undefined || right === undefined || result === undefined) continue;
    const key = pairKey(left, right);
    if (pairs.has(key)) continue; // the first (lowest) rank of a repeated pair wins
    pairs.set(key, rank.length);
    rank.push(i);
    merged.push(result);
  }
  return { byteIds, pairs, rank: Int32Array.from(rank), merged: Int32Array.from(merged) };
}

/** A binary min-heap of candidate merges ordered by (rank, left), in parallel number arrays. */
class MergeQueue {
  readonly #rank: number[] = [];
  readonly #left: number[] = [];
  readonly #right: number[] = [];
  /** Ids of the two sides when queued (a changed side makes the entry stale). */
  readonly #leftId: number[] = [];
  readonly #rightId: number[] = [];
  /** The merge's index in the tables. */
  readonly #merge: number[] = [];
  readonly #cols = [this.#rank, this.#left, this.#right, this.#leftId, this.#rightId, this.#merge];
  /** The popped entry: left, right, leftId, rightId, merge. */
  readonly top = new Int32Array(5);

  get size(): number {
    return this.#rank.length;
  }

  #less(i: number, j: number): boolean {
    const a = this.#rank[i]!;
    const b = this.#rank[j]!;
    return a < b || (a === b && this.#left[i]! < this.#left[j]!);
  }

  #swap(i: number, j: number): void {
    for (const c of this.#cols) {
      const t = c[i]!;
      c[i] = c[j]!;
      c[j] = t;
    }
  }

  push(rank: number, left: number, right: number, leftId: number, rightId: number, merge: number): void {
    let i = this.#rank.length;
    this.#rank.push(rank);
    this.#left.push(left);
    this.#right.push(right);
    this.#leftId.push(leftId);
    this.#rightId.push(rightId);
    this.#merge.push(merge);
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.#less(i, p)) break;
      this.#swap(i, p);
      i = p;
    }
  }

  /** Removes the top entry into `top`. */
  pop(): void {
    const t = this.top;
    t[0] = this.#left[0]!;
    t[1] = this.#right[0]!;
    t[2] = this.#leftId[0]!;
    t[3] = this.#rightId[0]!;
    t[4] = this.#merge[0]!;
    const last = this.#rank.length - 1;
    this.#swap(0, last);
    for (const c of this.#cols) c.pop();
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
  }
}

/** A symbol merged into its left neighbour (-1 is a byte whose character is not a token). */
const DEAD = -2;

/**
 * The tokens of one pre-tokenizer word. A generator that yields every few thousand steps, so a
 * caller can give the event loop a turn during a very long word.
 */
export function* bpeWord(word: string, tables: BpeTables): Generator<undefined, TokenId[]> {
  const bytes = Buffer.from(word, "utf8");
  const n = bytes.length;
  const sym = new Int32Array(n);
  const prev = new Int32Array(n);
  const next = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    sym[i] = tables.byteIds[bytes[i]!]!;
    prev[i] = i - 1;
    next[i] = i + 1 < n ? i + 1 : -1;
  }
  const queue = new MergeQueue();
  const addPair = (left: number, right: number) => {
    if (left < 0 || right < 0) return;
    const a = sym[left]!;
    const b = sym[right]!;
    if (a < 0 || b < 0) return;
    const m = tables.pairs.get(pairKey(a, b));
    if (m !== undefined) queue.push(tables.rank[m]!, left, right, a, b, m);
  };
  for (let i = 1; i < n; i++) {
    addPair(i - 1, i);
    if ((i & 0x7fff) === 0) yield;
  }
  const top = queue.top;
  let steps = 0;
  while (queue.size > 0) {
    if ((++steps & 0x1fff) === 0) yield;
    queue.pop();
    const left = top[0]!;
    const right = top[1]!;
    if (sym[left] !== top[2] || sym[right] !== top[3]) continue; // stale: a side changed
    sym[left] = tables.merged[top[4]!]!;
    sym[right] = DEAD;
    next[left] = next[right]!;
    if (next[right]! >= 0) prev[next[right]!] = left;
    addPair(prev[left]!, left);
    addPair(left, next[left]!);
  }
  // A byte whose character is not a token stays unknown: llama.cpp's fallback then looks up each
  // byte of that character's UTF-8 as a one-byte text, which finds nothing either (an ASCII
  // character is its own one-byte text; any other is two bytes, neither valid alone). So it is dropped.
  const out: TokenId[] = [];
  for (let i = 0; i < n; i++) if (sym[i]! >= 0) out.push(sym[i]!);
  return out;
}
