/**
 * Decides what one step (= one `llama_decode`; two when image embeddings join text tokens) computes.
 *
 * NOTE: there is no "prefill phase" or "decode phase". Each request has `numTokens` (prompt + output
 * so far) and `numComputedTokens` (KV already in the cache); a step lets requests catch up within a
 * token budget. Running requests go first, in admission order — so sequences that are decoding
 * (one token behind) come before chunks of newer prompts — then waiting requests are admitted
 * while sequence slots, budget and KV cells last (llama-server's `update_slots()` order, vLLM's
 * token-budget model). A waiting request whose prefix a running request is computing right now waits
 * for it instead of computing it twice (see `#prefixInFlight`).
 *
 * KV is allocated incrementally. When a running request cannot get cells, cached prefixes are
 * evicted first (LRU), then the most recently admitted running request is preempted: its KV is
 * dropped and it goes back to the front of the queue to recompute later. New requests are never
 * failed because others are running; they wait (bounded queue, then a capacity error).
 * @module
 */
import { type KvManager, type MemoryOp, UNPROVEN_SHARE } from "../kv/kv-manager.js";
import type { Request } from "../request.js";
import type { TokenId } from "../types.js";

/**
 * A waiting request is held back while a running request computes a prefix of it that is at least
 * this many tokens longer than its cached prefix (SGLang uses 32 for the same check).
 */
export const IN_FLIGHT_PREFIX_MIN = 32;

export interface SchedulerConfig {
  maxNumSeqs: number;
  maxNumBatchedTokens: number;
  enablePrefixCaching: boolean;
  /**
   * Most KV cells that finished requests' cached prefixes may hold while a step runs; entries that
   * never served a prefix hit may hold only UNPROVEN_SHARE of it. null = auto: as many as the running
   * requests use, at least `cacheFloorCells` (never-reused entries: UNPROVEN_SHARE of the floor), both
   * scaled by the share of idle sequence slots (1 − running / maxNumSeqs), like llama-server, where
   * only idle slots keep old prompts. llama.cpp's unified cache attends over every cell up to the
   * highest one in use, masked, for every token of every step, so an unbounded prefix cache slows
   * every decode (measurements: docs/performance.md#prefix-cache-cap).
   */
  maxCachedTokens: number | null;
  /** Lower bound of the auto cap (the engine passes min(max-model-len, 4096)). */
  cacheFloorCells: number;
}

/** Tokens of one sequence to decode in this step, at positions startPos.. */
export interface ScheduledItem {
  request: Request;
  tokens: TokenId[];
  /** KV keys of those positions (token ids; image positions get image keys). */
  keys: number[];
  /** The positions are image placeholders: the runner feeds their embeddings instead of tokens. */
  isImage: boolean;
  startPos: number;
  /** The last token's logits are needed: this chunk completes the sequence's known tokens. */
  needsLogits: boolean;
}

export interface SchedulerOutput {
  items: ScheduledItem[];
  /** llama.cpp memory operations to apply, in order, before the decode. */
  memoryOps: MemoryOp[];
  numBatchedTokens: number;
  /** Requests preempted in this step (already moved back to waiting). */
  preempted: Request[];
}

export interface PrefixCacheCounters {
  /** Prompt tokens looked up in the prefix cache. */
  queries: number;
  /** Of those, tokens found and reused. */
  hits: number;
}

export class Scheduler {
  readonly waiting: Request[] = [];
  readonly running: Request[] = [];
  readonly prefixCache: PrefixCacheCounters = { queries: 0, hits: 0 };
  numPreemptions = 0;
  /** Cached entries evicted to bound the prefix cache (not for lack of cells). */
  numCacheEvictions = 0;

  constructor(
    readonly config: SchedulerConfig,
    readonly kv: KvManager,
  ) {}

  addRequest(req: Request): void {
    this.waiting.push(req);
  }

  hasRequests(): boolean {
    return this.waiting.length > 0 || this.running.length > 0;
  }

  /** Plans the next step. Returns an empty plan when nothing can run. */
  schedule(): SchedulerOutput {
    const items: ScheduledItem[] = [];
    const preempted: Request[] = [];
    let budget = this.config.maxNumBatchedTokens;

    // 1) Running requests catch up, oldest first.
    for (let i = 0; i < this.running.length && budget > 0; i++) {
      const req = this.running[i]!;
      const n = this.#chunk(req, req.numComputedTokens, Math.min(req.numTokens - req.numComputedTokens, budget));
      if (!this.#reserveOrPreempt(req, n, preempted)) break; // req itself was preempted
      items.push(this.#item(req, n));
      budget -= n;
    }

    // 2) Admit waiting requests (not in a step that had to preempt).
    if (preempted.length === 0) budget = this.#admit(items, budget);

    // 3) Bound the prefix cache while there is work (admissions above already took their hits; an
    //    idle engine keeps everything, since cached cells cost nothing when nothing decodes).
    if (items.length > 0 && this.config.enablePrefixCaching) this.#trimCache();

    return {
      items,
      memoryOps: this.kv.takeMemoryOps(),
      numBatchedTokens: this.config.maxNumBatchedTokens - budget,
      preempted,
    };
  }

  #trimCache(): void {
    const { maxCachedTokens, cacheFloorCells, maxNumSeqs } = this.config;
    // Auto: like llama-server's idle slots, which alone keep old prompts, the busier the engine the
    // less it keeps (nothing at max-num-seqs running sequences).
    const idle = maxCachedTokens === null ? Math.max(0, 1 - this.running.length / maxNumSeqs) : 1;
    const unprovenCap = Math.floor((maxCachedTokens ?? cacheFloorCells) * UNPROVEN_SHARE * idle);
    if (this.kv.usedCells <= unprovenCap) return; // cached-only cells ≤ used cells: nothing to trim
    const capFor = (running: number) => maxCachedTokens ?? Math.floor(Math.max(cacheFloorCells, running) * idle);
    this.numCacheEvictions += this.kv.trimCache(capFor, unprovenCap);
  }

  /** Reserves n cells for `req`, preempting newer running requests if needed. False if `req` itself was preempted. */
  #reserveOrPreempt(req: Request, n: number, preempted: Request[]): boolean {
    while (!this.kv.reserve(n)) {
      const victim = this.running[this.running.length - 1]!;
      this.#preempt(victim);
      preempted.push(victim);
      if (victim === req) return false;
    }
    return true;
  }

  #preempt(req: Request): void {
    this.running.splice(this.running.indexOf(req), 1);
    if (req.kv) this.kv.release(req.kv, false);
    req.kv = null;
    req.numComputedTokens = 0;
    req.status = "waiting";
    req.wasPreempted = true;
    this.waiting.unshift(req);
    this.numPreemptions++;
  }

  #admit(items: ScheduledItem[], budget: number): number {
    for (let i = 0; i < this.waiting.length && budget > 0 && this.running.length < this.config.maxNumSeqs; ) {
      const req = this.waiting[i]!;
      if (!req.canBeAdmitted()) {
        i++; // an n > 1 sibling waiting for completion 0's prompt; do not block the queue
        continue;
      }
      const tokens = req.allKeys();
      const reuse = this.config.enablePrefixCaching || req.firstSibling !== null;
      // Keep at least the last token to compute: its logits give the next token.
      const maxReuse = tokens.length - 1;
      let match = reuse ? this.kv.findPrefix(tokens, maxReuse) : null;
      if (this.config.enablePrefixCaching && this.#prefixInFlight(tokens, maxReuse, match?.numTokens ?? 0)) {
        i++; // it will share that prefix once computed; do not block the queue meanwhile
        continue;
      }
      const seq = this.kv.allocateSeq();
      if (!seq) break;
      req.kv = seq;
      // Allocating may have evicted the match's source (out of sequence labels): look again.
      if (match && !this.kv.holds(match.source)) match = this.kv.findPrefix(tokens, maxReuse);
      if (match) this.kv.sharePrefix(seq, match.source, match.numTokens);
      const numReused = match?.numTokens ?? 0;
      const n = this.#chunk(req, numReused, Math.min(tokens.length - numReused, budget));
      if (!this.kv.reserve(n)) {
        this.kv.release(seq, false);
        req.kv = null;
        break;
      }
      if (!req.wasPreempted) {
        this.prefixCache.queries += req.numPromptTokens;
        this.prefixCache.hits += Math.min(numReused, req.numPromptTokens);
        req.numCachedTokens = Math.min(numReused, req.numPromptTokens);
      }
      req.numComputedTokens = numReused;
      req.firstScheduledTimeMs ??= Date.now();
      req.status = "running";
      this.waiting.splice(i, 1);
      this.running.push(req);
      items.push(this.#item(req, n));
      budget -= n;
    }
    return budget;
  }

  /**
   * True when a running request is still computing a part of its prompt that `keys` share, and the
   * shared prefix is at least IN_FLIGHT_PREFIX_MIN longer than what the cache already holds for `keys`
   * (`numCached`). The waiting request is then better admitted once that prefix is in the cache than
   * computing a second copy alongside it (SGLang's in-batch prefix caching): concurrent requests with
   * one new system prompt compute it once.
   */
  #prefixInFlight(keys: readonly number[], maxReuse: number, numCached: number): boolean {
    const window = this.kv.slidingWindow;
    for (const r of this.running) {
      if (window > 0 && r.numPromptTokens >= window) continue; // it will lend nothing (KvManager.findPrefix)
      const computed = r.numComputedTokens;
      const limit = Math.min(maxReuse, r.numPromptTokens);
      if (computed >= r.numPromptTokens || limit <= computed || limit < numCached + IN_FLIGHT_PREFIX_MIN) continue;
      let n = 0;
      while (n < limit && r.keyAt(n) === keys[n]) n++;
      if (n > computed && n >= numCached + IN_FLIGHT_PREFIX_MIN) return true;
    }
    return false;
  }

  /** How many of `max` positions from `start` go in one item: cut where text meets image embeddings. */
  #chunk(req: Request, start: number, max: number): number {
    return req.multiModal ? req.multiModal.runLength(start, max) : max;
  }

  /** The next `n` positions of `req`, all of one kind (text tokens or image embeddings). */
  #item(req: Request, n: number): ScheduledItem {
    const start = req.numComputedTokens;
    const mm = req.multiModal;
    const tokens: TokenId[] = new Array(n);
    const keys: number[] = new Array(n);
    for (let k = 0; k < n; k++) {
      tokens[k] = req.tokenAt(start + k);
      keys[k] = req.keyAt(start + k);
    }
    const isImage = mm !== null && (mm.embeddingIndex[start] ?? -1) >= 0;
    return { request: req, tokens, keys, isImage, startPos: start, needsLogits: start + n === req.numTokens };
  }

  /** Removes a finished or aborted request; its KV is kept for prefix reuse when caching is on. */
  finishRequest(req: Request): void {
    const r = this.running.indexOf(req);
    if (r >= 0) this.running.splice(r, 1);
    const w = this.waiting.indexOf(req);
    if (w >= 0) this.waiting.splice(w, 1);
    if (req.kv) this.kv.release(req.kv, this.config.enablePrefixCaching);
    req.kv = null;
    req.status = "finished";
  }
}
