/**
 * KV-cache events over herd's prefix cache, in vLLM's terms (`vllm/distributed/kv_events.py`).
 *
 * NOTE: herd's KV is token cells, not blocks. For events only, a sequence's first N tokens are cut
 * into floor(N / blockSize) full blocks (vLLM's `--block-size`); the tail of a partial block is never
 * reported. A block's hash is chained like vLLM's prefix-cache hashes:
 *
 *   hash(block i) = first 8 bytes of sha256(hash(block i-1) ‖ key_0 … key_{B-1}), big-endian, top bit cleared
 *
 * with hash(block -1) = 0 and each key a little-endian int32. A key is the token id, or at an image
 * position the negative key `MultiModalPrompt` derives from the image's content hash, so two blocks
 * with the same placeholders but different images hash differently (vLLM's multimodal extra keys).
 * The root is fixed, so hashes survive an engine restart (vLLM seeds it with PYTHONHASHSEED). The top
 * bit is cleared so that decoders reading hashes as int64 (older llm-d) and as uint64 agree.
 *
 * Many sequences share blocks (a cached prefix and the requests that reuse it): a block is
 * `BlockStored` when its first holder commits it and `BlockRemoved` when its last holder is dropped,
 * so the published set equals the set of full blocks some live sequence holds (one that can still lend
 * its prefix: with a sliding window, shorter than it). A new tracker (engine
 * start or restart) first emits `AllBlocksCleared`.
 * @module
 */
import { createHash } from "node:crypto";
import type { SeqId } from "./kv-manager.js";

/** vLLM's default block size (its `--block-size` on GPUs). */
export const DEFAULT_BLOCK_SIZE = 16;

/** Image keys remembered for `extra_keys` (a 1120-px image has 2,880 keys; this is ~90 such images). */
const MAX_IMAGE_KEYS = 262_144;

export type KvEvent =
  | {
      type: "BlockStored";
      blockHashes: bigint[];
      parentBlockHash: bigint | null;
      /** The blocks' token ids in order; image positions report the image placeholder token (their keys are in `extraKeys`). */
      tokenIds: number[];
      /**
       * Per block: the content hashes of the images at its positions, in order (vLLM's multimodal extra keys;
       * an image key the tracker was not told about stays a number), or null for a text-only block; null when all are text.
       */
      extraKeys: Array<Array<string | number> | null> | null;
    }
  | { type: "BlockRemoved"; blockHashes: bigint[] }
  | { type: "AllBlocksCleared" };

/** A sequence as the tracker sees it: its label and its committed keys (token ids / image keys). */
export interface TrackedSeq {
  readonly seqId: SeqId;
  readonly tokens: readonly number[];
}

/** Hash of one full block chained on `parent` (see the module doc). */
export function hashBlock(parent: bigint | null, keys: readonly number[]): bigint {
  const buf = Buffer.allocUnsafe(8 + 4 * keys.length);
  buf.writeBigUInt64BE(parent ?? 0n, 0);
  for (let i = 0; i < keys.length; i++) buf.writeInt32LE(keys[i]!, 8 + 4 * i);
  return createHash("sha256").update(buf).digest().readBigUInt64BE(0) & 0x7fff_ffff_ffff_ffffn;
}

export class BlockTracker {
  /** Holders of each published block. */
  readonly #numHolders = new Map<bigint, number>();
  /** Each live sequence's full-block hashes, in order. */
  readonly #seqBlocks = new Map<SeqId, bigint[]>();
  /** Image key → image content hash, for `extra_keys` (bounded: the oldest names go first). */
  readonly #imageHashes = new Map<number, string>();
  /** Sequences that reached the sliding window: they hold no published blocks any more. */
  readonly #retired = new Set<SeqId>();
  #pending: KvEvent[] = [{ type: "AllBlocksCleared" }];

  /**
   * @param imageTokenId the model's image placeholder token (`<|patch|>`): what `token_ids` report at image
   *   positions, as the render endpoints do; the image keys themselves go in `extra_keys`
   */
  constructor(
    readonly blockSize = DEFAULT_BLOCK_SIZE,
    readonly imageTokenId = 0,
  ) {
    if (!Number.isInteger(blockSize) || blockSize < 1) throw new Error(`block size must be ≥ 1 (got ${blockSize})`);
  }

  /** Names the image keys of a prompt about to run (`MultiModalPrompt.imageHashOfKey`). */
  nameImageKeys(names: ReadonlyMap<number, string>): void {
    for (const [key, hash] of names) {
      this.#imageHashes.delete(key);
      this.#imageHashes.set(key, hash);
    }
    for (const key of this.#imageHashes.keys()) {
      if (this.#imageHashes.size <= MAX_IMAGE_KEYS) break;
      this.#imageHashes.delete(key);
    }
  }

  /** `dst` (empty) now shares `source`'s first `numTokens` keys: it takes the hashes of their full blocks. */
  onShare(dst: TrackedSeq, source: TrackedSeq, numTokens: number): void {
    const full = Math.floor(numTokens / this.blockSize);
    const blocks = (this.#seqBlocks.get(source.seqId) ?? []).slice(0, full);
    for (const h of blocks) this.#numHolders.set(h, (this.#numHolders.get(h) ?? 0) + 1);
    this.#seqBlocks.set(dst.seqId, blocks);
  }

  /** `seq`'s keys grew: hashes its newly completed blocks and publishes those nobody held. */
  onCommit(seq: TrackedSeq): void {
    if (this.#retired.has(seq.seqId)) return;
    let blocks = this.#seqBlocks.get(seq.seqId);
    if (!blocks) this.#seqBlocks.set(seq.seqId, (blocks = []));
    const size = this.blockSize;
    let stored: Extract<KvEvent, { type: "BlockStored" }> | null = null;
    for (let b = blocks.length; (b + 1) * size <= seq.tokens.length; b++) {
      const keys = seq.tokens.slice(b * size, (b + 1) * size);
      const parent = b > 0 ? blocks[b - 1]! : null;
      const hash = hashBlock(parent, keys);
      blocks.push(hash);
      const n = this.#numHolders.get(hash) ?? 0;
      this.#numHolders.set(hash, n + 1);
      if (n > 0) {
        stored = null; // held already: a later new block starts a new event with its own parent
        continue;
      }
      if (!stored) {
        stored = { type: "BlockStored", blockHashes: [], parentBlockHash: parent, tokenIds: [], extraKeys: null };
        this.#pending.push(stored);
      }
      addBlock(stored, hash, keys, this.imageTokenId, this.#imageHashes);
    }
  }

  /**
   * `seq` lends no prefix any more (it reached the sliding window, `KvManager.lendsPrefix`): its blocks
   * are withdrawn, once — a scorer must not route to KV herd would not reuse.
   */
  onRetire(seq: TrackedSeq): void {
    if (this.#retired.has(seq.seqId)) return;
    this.onDrop(seq);
    this.#retired.add(seq.seqId);
  }

  /** `seq` was dropped: unpublishes the blocks it was the last holder of. */
  onDrop(seq: TrackedSeq): void {
    this.#retired.delete(seq.seqId);
    const blocks = this.#seqBlocks.get(seq.seqId);
    if (!blocks) return;
    this.#seqBlocks.delete(seq.seqId);
    const removed: bigint[] = [];
    for (const h of blocks) {
      const n = this.#numHolders.get(h)! - 1;
      if (n > 0) this.#numHolders.set(h, n);
      else {
        this.#numHolders.delete(h);
        removed.push(h);
      }
    }
    if (removed.length > 0) this.#pending.push({ type: "BlockRemoved", blockHashes: removed });
  }

  /** The hashes of every full block some live sequence holds (what the published events add up to). */
  heldBlocks(): Set<bigint> {
    return new Set(this.#numHolders.keys());
  }

  /** Takes the events produced since the last call, in order. */
  takeEvents(): KvEvent[] {
    const events = this.#pending;
    this.#pending = [];
    return events;
  }
}

function addBlock(
  stored: Extract<KvEvent, { type: "BlockStored" }>,
  hash: bigint,
  keys: readonly number[],
  imageTokenId: number,
  imageHashes: ReadonlyMap<number, string>,
): void {
  const index = stored.blockHashes.length;
  stored.blockHashes.push(hash);
  const images: Array<string | number> = [];
  for (const k of keys) {
    if (k >= 0) {
      stored.tokenIds.push(k);
      continue;
    }
    stored.tokenIds.push(imageTokenId);
    const name = imageHashes.get(k) ?? k;
    if (images.at(-1) !== name) images.push(name);
  }
  if (images.length > 0) {
    stored.extraKeys ??= new Array<Array<string | number> | null>(index).fill(null);
    stored.extraKeys.push(images);
  } else stored.extraKeys?.push(null);
}
