/**
 * KV bookkeeping for one unified llama.cpp KV cache: which sequence label (llama.cpp `seq_id`) holds
 * which tokens, how many cells are in use, and which finished prefixes stay cached for reuse.
 *
 * NOTE: the cache is one unified buffer (`kv_unified = true`). A sequence's cells are a list of
 * segments; prefix sharing (`llama_memory_seq_cp`) makes two sequences reference the same segment,
 * so those cells are counted once and freed only when the last reference goes:
 *
 *   seq 3 (cached, finished)  [ seg A: 40 cells ][ seg B: 12 cells ]
 *   seq 7 (running)           [ seg A          ][ seg C: 25 cells (own) ]
 *   used cells = 40 + 12 + 25
 *
 * The manager never calls llama.cpp: it returns `MemoryOp`s that the runner applies, in order,
 * before the step's decode. Running out of cells is a return value (`false`), never an exception:
 * the scheduler then evicts cached prefixes (LRU) or preempts.
 * With a `BlockTracker` (KV-cache events on), every change of a sequence's tokens is reported to it.
 * @module
 */
import type { BlockTracker } from "./block-tracker.js";

export type SeqId = number & { readonly __seqId: never };

/** Operations on llama.cpp's memory, applied in order before the next decode. */
export type MemoryOp = { op: "copy"; src: SeqId; dst: SeqId; numTokens: number } | { op: "remove"; seq: SeqId; fromPos: number };

interface Segment {
  numCells: number;
  numRefs: number;
}

/** The KV held under one sequence label. */
export interface SeqKv {
  readonly seqId: SeqId;
  /** Token ids whose KV is in the cache, in position order (position i holds tokens[i]). */
  readonly tokens: number[];
  segments: Segment[];
  /** LRU clock for cached entries. */
  lastUsed: number;
  /** Finished and kept only for prefix reuse. */
  cached: boolean;
  /** How many later requests reused at least PROVEN_HIT_TOKENS of it (see `sharePrefix`). */
  numHits: number;
}

export interface PrefixMatch {
  source: SeqKv;
  numTokens: number;
}

/**
 * While requests decode, cached entries that never served a prefix hit may hold at most this share of
 * the prefix cache's base cap (`--max-cached-tokens`, or the auto floor; see SchedulerConfig):
 * one-off prompts are the likeliest never to be reused, and every cached cell slows every decode
 * (llama.cpp attends over them, masked; measurements: docs/performance.md#prefix-cache-cap).
 */
export const UNPROVEN_SHARE = 1 / 8;

/**
 * A reuse of at least this many tokens proves an entry worth keeping; shorter matches are what every
 * prompt shares anyway (BOS, a chat template's header).
 */
export const PROVEN_HIT_TOKENS = 32;

/** llama.cpp accepts seq ids below LLAMA_MAX_SEQ (256) in a unified cache. */
export const MAX_SEQ_LABELS = 256;

export class KvManager {
  readonly totalCells: number;
  #usedCells = 0;
  /** Cells promised to tokens scheduled in the current step, not yet committed. */
  #reservedCells = 0;
  #clock = 0;
  readonly #freeLabels: SeqId[] = [];
  readonly #live = new Map<SeqId, SeqKv>();
  readonly #pendingOps: MemoryOp[] = [];

  /**
   * @param slidingWindow the model's sliding-window / attention-chunk length (0 = none): a sequence of
   *   that many tokens or more lends no prefix, since llama.cpp may have purged its early positions from
   *   the sliding-window layers' cache (it reuses such cells once they are masked for their only owner)
   */
  constructor(
    totalCells: number,
    readonly slidingWindow = 0,
    numLabels = MAX_SEQ_LABELS,
    /** KV-cache events (`--kv-events-config`); none = off. */
    readonly blockTracker: BlockTracker | null = null,
  ) {
    this.totalCells = totalCells;
    for (let i = numLabels - 1; i >= 0; i--) this.#freeLabels.push(i as SeqId);
  }

  get usedCells(): number {
    return this.#usedCells;
  }

  get freeCells(): number {
    return this.totalCells - this.#usedCells - this.#reservedCells;
  }

  /** Finished sequences kept for prefix reuse. */
  get numCachedEntries(): number {
    let n = 0;
    for (const s of this.#live.values()) if (s.cached) n++;
    return n;
  }

  /** Every live sequence (running or cached), for checks and debugging. */
  liveSeqs(): IterableIterator<SeqKv> {
    return this.#live.values();
  }

  /** Takes the memory operations queued since the last call, in order. */
  takeMemoryOps(): MemoryOp[] {
    return this.#pendingOps.splice(0, this.#pendingOps.length);
  }

  /** A new empty sequence, or null when every label is taken (after evicting cached entries). */
  allocateSeq(): SeqKv | null {
    if (this.#freeLabels.length === 0 && !this.evictOne()) return null;
    const seqId = this.#freeLabels.pop()!;
    const seq: SeqKv = { seqId, tokens: [], segments: [], lastUsed: ++this.#clock, cached: false, numHits: 0 };
    this.#live.set(seqId, seq);
    return seq;
  }

  /**
   * Longest prefix of `tokens` whose KV is held by a live sequence (running or cached), capped at
   * `maxTokens`. Ties prefer a cached entry's most recent use. Sequences as long as the sliding window
   * lend nothing (see the constructor).
   */
  findPrefix(tokens: readonly number[], maxTokens: number): PrefixMatch | null {
    let best: PrefixMatch | null = null;
    for (const seq of this.#live.values()) {
      if (!this.lendsPrefix(seq)) continue;
      const limit = Math.min(maxTokens, seq.tokens.length, tokens.length);
      if (best && limit <= best.numTokens) continue;
      let n = 0;
      while (n < limit && seq.tokens[n] === tokens[n]) n++;
      if (n > 0 && (!best || n > best.numTokens)) best = { source: seq, numTokens: n };
    }
    return best;
  }

  /** Whether `seq` may lend its prefix: shorter than the sliding window, when the model has one. */
  lendsPrefix(seq: SeqKv): boolean {
    return this.slidingWindow === 0 || seq.tokens.length < this.slidingWindow;
  }

  /** Whether `seq` is still held (not evicted or released). */
  holds(seq: SeqKv): boolean {
    return this.#live.get(seq.seqId) === seq;
  }

  /**
   * Makes `dst` (empty) share the first `numTokens` cells of `source`. Costs no free cells.
   * Queues the llama.cpp `seq_cp`.
   */
  sharePrefix(dst: SeqKv, source: SeqKv, numTokens: number): void {
    if (dst.tokens.length !== 0) throw new Error("sharePrefix needs an empty destination");
    if (numTokens <= 0 || numTokens > source.tokens.length) throw new Error(`bad prefix length ${numTokens}`);
    let remaining = numTokens;
    for (let i = 0; i < source.segments.length && remaining > 0; i++) {
      let seg = source.segments[i]!;
      if (seg.numCells > remaining) {
        // Split so that the shared part is a whole segment; both halves keep the source's references.
        const tail: Segment = { numCells: seg.numCells - remaining, numRefs: seg.numRefs };
        seg.numCells = remaining;
        this.#splitInEveryHolder(seg, tail);
      }
      seg = source.segments[i]!;
      seg.numRefs++;
      dst.segments.push(seg);
      remaining -= seg.numCells;
    }
    for (let i = 0; i < numTokens; i++) dst.tokens.push(source.tokens[i]!);
    this.blockTracker?.onShare(dst, source, numTokens);
    source.lastUsed = ++this.#clock;
    if (numTokens >= PROVEN_HIT_TOKENS) source.numHits++;
    this.#pendingOps.push({ op: "copy", src: source.seqId, dst: dst.seqId, numTokens });
  }

  /** Inserts `tail` after `head` in every live sequence that references `head`. */
  #splitInEveryHolder(head: Segment, tail: Segment): void {
    for (const seq of this.#live.values()) {
      const i = seq.segments.indexOf(head);
      if (i >= 0) seq.segments.splice(i + 1, 0, tail);
    }
  }

  /**
   * Reserves `numCells` new cells for tokens about to be decoded in this step, evicting cached
   * prefixes (least recently used first) when needed. False when they cannot be had.
   */
  reserve(numCells: number): boolean {
    while (this.freeCells < numCells) {
      if (!this.evictOne()) return false;
    }
    this.#reservedCells += numCells;
    return true;
  }

  /** Forgets reservations that were not committed (the step failed or was cut short). */
  clearReservations(): void {
    this.#reservedCells = 0;
  }

  /** Records that `tokens` were decoded into `seq` (after a successful step). */
  commitTokens(seq: SeqKv, tokens: readonly number[]): void {
    if (tokens.length === 0) return;
    const last = seq.segments[seq.segments.length - 1];
    // Grow the tail in place when no other sequence shares it; else start an own segment.
    if (last && last.numRefs === 1) last.numCells += tokens.length;
    else seq.segments.push({ numCells: tokens.length, numRefs: 1 });
    for (const t of tokens) seq.tokens.push(t);
    if (this.blockTracker) {
      if (this.lendsPrefix(seq)) this.blockTracker.onCommit(seq);
      else this.blockTracker.onRetire(seq);
    }
    this.#usedCells += tokens.length;
    this.#reservedCells = Math.max(0, this.#reservedCells - tokens.length);
    seq.lastUsed = ++this.#clock;
  }

  /**
   * Releases a sequence. With `keepAsCache`, its KV stays for prefix reuse until evicted (LRU);
   * otherwise its cells are dropped now.
   */
  release(seq: SeqKv, keepAsCache: boolean): void {
    if (!this.#live.has(seq.seqId)) return;
    if (keepAsCache && seq.tokens.length > 0) {
      seq.cached = true;
      seq.lastUsed = ++this.#clock;
      return;
    }
    this.#drop(seq);
  }

  /**
   * Cells held only by cached (finished) entries: what keeping the prefix cache costs beyond the
   * running sequences' own KV.
   */
  get cachedOnlyCells(): number {
    return this.#cachedCells().all;
  }

  /**
   * Cells held only by cached entries (`all`), and of those, cells held only by entries that never
   * served a prefix hit (`unproven`).
   */
  #cachedCells(): { all: number; unproven: number } {
    const running = new Set<Segment>();
    const proven = new Set<Segment>();
    for (const seq of this.#live.values()) {
      const into = !seq.cached ? running : seq.numHits > 0 ? proven : null;
      if (into) for (const seg of seq.segments) into.add(seg);
    }
    const counted = new Set<Segment>();
    let all = 0;
    let unproven = 0;
    for (const seq of this.#live.values()) {
      if (!seq.cached) continue;
      for (const seg of seq.segments) {
        if (running.has(seg) || counted.has(seg)) continue;
        counted.add(seg);
        all += seg.numCells;
        if (!proven.has(seg)) unproven += seg.numCells;
      }
    }
    return { all, unproven };
  }

  /**
   * Evicts cached entries until the cells held only by cached entries are at most
   * `capFor(cells referenced by running sequences)`, and those held only by entries that never served
   * a prefix hit at most `unprovenCap`. Entries that never served a hit go first, least recently used
   * first; then the others, least recently used first. Returns how many were evicted.
   */
  trimCache(capFor: (runningCells: number) => number, unprovenCap: number): number {
    let { all, unproven } = this.#cachedCells();
    const cap = capFor(this.#usedCells - all);
    let evicted = 0;
    while (all > cap || unproven > unprovenCap) {
      const before = this.#usedCells;
      if (!this.#evictLru(false)) break;
      // The cells an unproven entry frees were held by unproven cached entries alone.
      all -= before - this.#usedCells;
      unproven -= before - this.#usedCells;
      evicted++;
    }
    while (all > cap) {
      const before = this.#usedCells;
      if (!this.#evictLru(true)) break;
      all -= before - this.#usedCells;
      evicted++;
    }
    return evicted;
  }

  /**
   * Evicts one cached entry: the least recently used of those that never served a prefix hit, else
   * the least recently used of all. False when there is none.
   */
  evictOne(): boolean {
    return this.#evictLru(false) || this.#evictLru(true);
  }

  /** Evicts the least recently used cached entry (only unproven ones unless `anyEntry`). */
  #evictLru(anyEntry: boolean): boolean {
    let victim: SeqKv | null = null;
    for (const seq of this.#live.values()) {
      if (seq.cached && (anyEntry || seq.numHits === 0) && (!victim || seq.lastUsed < victim.lastUsed)) victim = seq;
    }
    if (!victim) return false;
    this.#drop(victim);
    return true;
  }

  #drop(seq: SeqKv): void {
    this.blockTracker?.onDrop(seq);
    for (const seg of seq.segments) this.#unref(seg);
    seq.segments = [];
    seq.tokens.length = 0;
    this.#live.delete(seq.seqId);
    this.#freeLabels.push(seq.seqId);
    this.#pendingOps.push({ op: "remove", seq: seq.seqId, fromPos: 0 });
  }

  #unref(seg: Segment): void {
    seg.numRefs--;
    if (seg.numRefs === 0) this.#usedCells -= seg.numCells;
  }
}
