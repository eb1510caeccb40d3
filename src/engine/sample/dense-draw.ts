/**
 * The dense path of `drawToken` (see draw.ts): one exp pass into a histogram of 1/256-nat buckets over
 * z = (logit - max) / T, then top-k (counts), top-p (mass) and min-p (a z threshold) each resolved at one
 * boundary bucket, whose members alone are gathered and split by a weighted quickselect, and an
 * inverse-CDF draw that binary-searches the bucket masses and scans one bucket.
 *
 * A token's bucket is recomputed when needed rather than stored: storing it costs the exp pass more than
 * the few later passes that look for one bucket's members (they filter on the raw logit first).
 * @module
 */

import type { TokenId } from "../types.js";
import type { DrawStats } from "./draw.js";
import { EXP_TABLE, expIndex, MAX_VOCAB_SIZE as VOCAB_LIMIT, STEPS_PER_NAT as PER_NAT, Z_FLOOR } from "./vocab-math.js";
import { partitionAtMost, selectByWeight } from "./weighted-select.js";

// Module-local copies of imported constants used in hot loops: test runners rewrite imported names into
// property-getter calls.
const STEPS_PER_NAT = PER_NAT;
const MAX_VOCAB_SIZE = VOCAB_LIMIT;
const NUM_BUCKETS = -Z_FLOOR * STEPS_PER_NAT + 1;
const STEP = 1 / STEPS_PER_NAT;
const SIXTH = 1 / 6;

const bucketMass = new Float64Array(NUM_BUCKETS);
/** massBelow[b] = Σ bucketMass[0..b), summed in bucket order; valid for b ≤ the draw's numUsed. */
const massBelow = new Float64Array(NUM_BUCKETS + 1);
/** bucketMass is zero from here on (the previous draw's numUsed): the next draw clears only below it. */
let numDirtyBuckets = 0;
const bucketCount = new Int32Array(NUM_BUCKETS);
/** Grow-only buffers for the boundary buckets' members, reused by every draw. */
const memberBuffers: Members[] = [];

/**
 * Every token of buckets < `bucket`, plus the members of `bucket` whose sort key (`descendingKey`: z
 * descending, id ascending) is ≤ `maxKey` (-Infinity: none of them).
 */
interface Cut {
  bucket: number;
  maxKey: number;
}

/** A boundary bucket's members: packed sort keys (ids inside) and weights, in a working order. */
interface Members {
  keys: Float64Array;
  weights: Float64Array;
}

const ALL: Cut = { bucket: NUM_BUCKETS, maxKey: -Infinity };

/** A members buffer twice as large, with the same contents. */
function grown(buffer: Members): Members {
  const keys = new Float64Array(2 * buffer.keys.length);
  const weights = new Float64Array(2 * buffer.weights.length);
  keys.set(buffer.keys);
  weights.set(buffer.weights);
  return { keys, weights };
}

/** One dense draw; an object only to share its inputs between the phases, not kept. */
export class DenseDraw {
  /** The boundary buckets gathered so far in this draw. */
  private readonly gathered = new Map<number, Members>();
  /** The last cut whose kept members were moved to the front of their bucket's arrays, and how many. */
  private kept = { bucket: -1, maxKey: NaN, count: 0 };
  /** The logits' float32 bits, for sort keys. */
  private readonly logitBits: Uint32Array;
  /** Buckets 0 .. numUsed-1 may hold tokens; the rest are empty (z is never that low, or below the floor). */
  private numUsed = 0;

  constructor(
    private readonly logits: Float32Array,
    private readonly maxLogit: number,
    private readonly invT: number,
    private readonly zFloor: number,
  ) {
    this.logitBits = new Uint32Array(logits.buffer, logits.byteOffset, logits.length);
  }

  draw(k: number, topP: number, zMin: number, u: number, stats: DrawStats | undefined): TokenId {
    this.fillHistogram(k > 0);
    if (stats) {
      stats.maxLogit = this.maxLogit;
      stats.sumExp = this.zFloor === Z_FLOOR ? this.massOf(ALL) : NaN;
    }
    let cut = ALL;
    if (k > 0) cut = this.cutTopK(k);
    if (topP < 1) cut = this.cutTopP(cut, topP);
    if (zMin > this.zFloor) cut = this.cutMinP(cut, zMin);
    return this.sample(cut, u);
  }

  /**
   * The exp pass: mass per bucket (tokens below the floor, and NaN, skipped); token counts per bucket only
   * for a dense top-k, in a second pass (a second scattered write per token slows the first one down).
   */
  private fillHistogram(withCounts: boolean): void {
    const { logits, maxLogit, invT, zFloor } = this;
    const len = logits.length;
    const mass = bucketMass;
    const table = EXP_TABLE;
    mass.fill(0, 0, numDirtyBuckets);
    let top = 0;
    // The exp is expAt(z, expIndex(z)) inlined by hand, as in membersOf and scanBucket: the same operations
    // in the same order, so bucket masses and member weights agree bit for bit. Hot loops must not call
    // across modules (test runners and CJS shims turn such calls into property-getter calls, 10× slower).
    for (let i = 0; i < len; i++) {
      const z = (logits[i]! - maxLogit) * invT;
      if (z >= zFloor) {
        const n = (0.5 - z * STEPS_PER_NAT) | 0;
        const r = z + n * STEP;
        mass[n] = mass[n]! + table[n]! * (1 + r * (1 + r * (0.5 + r * SIXTH)));
        if (n > top) top = n;
      }
    }
    const used = (this.numUsed = numDirtyBuckets = top + 1);
    let below = 0;
    for (let b = 0; b < used; b++) {
      massBelow[b] = below;
      below += mass[b]!;
    }
    massBelow[used] = below;
    if (!withCounts) return;
    const count = bucketCount;
    count.fill(0);
    for (let i = 0; i < len; i++) {
      const z = (logits[i]! - maxLogit) * invT;
      if (z >= zFloor) {
        const n = (0.5 - z * STEPS_PER_NAT) | 0;
        count[n] = count[n]! + 1;
      }
    }
  }

  /**
   * Logits with |logit - center| > radius are certainly not in `bucket`: a cheap first filter for the
   * passes that look for its members, which then recompute the bucket exactly as fillHistogram did. One
   * comparison, not two: `l < lo || l > hi` mispredicts on flat distributions. The margin (1e-6 nat) dwarfs
   * the rounding of z.
   */
  private logitRange(bucket: number): { center: number; radius: number } {
    const temperature = 1 / this.invT;
    return { center: this.maxLogit - bucket * STEP * temperature, radius: (0.5 * STEP + 1e-6) * temperature };
  }

  /**
   * The members of `bucket` (one pass over the logits), cached for this draw: their sort keys (as
   * `descendingKey` computes them) and weights (exp(z) as in fillHistogram), both inlined by hand.
   */
  private membersOf(bucket: number): Members {
    const cached = this.gathered.get(bucket);
    if (cached) return cached;
    const { logits, logitBits, maxLogit, invT, zFloor } = this;
    const slot = this.gathered.size;
    let buffer = (memberBuffers[slot] ??= { keys: new Float64Array(1024), weights: new Float64Array(1024) });
    const { center, radius } = this.logitRange(bucket);
    const table = EXP_TABLE;
    const len = logits.length;
    let size = 0;
    for (let i = 0; i < len; i++) {
      const l = logits[i]!;
      if (Math.abs(l - center) > radius) continue;
      const z = (l - maxLogit) * invT;
      if (!(z >= zFloor)) continue;
      const n = (0.5 - z * STEPS_PER_NAT) | 0;
      if (n !== bucket) continue;
      if (size === buffer.keys.length) buffer = memberBuffers[slot] = grown(buffer);
      const bits = logitBits[i]!;
      const ascending = bits & 0x80000000 ? ~bits >>> 0 : (bits | 0x80000000) >>> 0;
      buffer.keys[size] = (0xffffffff - ascending) * MAX_VOCAB_SIZE + i;
      const r = z + n * STEP;
      buffer.weights[size++] = table[n]! * (1 + r * (1 + r * (0.5 + r * SIXTH)));
    }
    const members = { keys: buffer.keys.subarray(0, size), weights: buffer.weights.subarray(0, size) };
    this.gathered.set(bucket, members);
    return members;
  }

  /** The members of the cut's partial bucket that it keeps, moved to the front; returns how many. */
  private keptMembers(cut: Cut): number {
    if (cut.maxKey === -Infinity) return 0;
    const known = this.kept;
    if (known.bucket === cut.bucket && known.maxKey === cut.maxKey) return known.count;
    const { keys, weights } = this.membersOf(cut.bucket);
    const count = partitionAtMost(keys, weights, keys.length, cut.maxKey);
    this.kept = { bucket: cut.bucket, maxKey: cut.maxKey, count };
    return count;
  }

  /**
   * The cut ending at the smallest prefix of `bucket`'s first `size` members (in key order) whose weight
   * (or count, when `unit`) reaches `need`; null when they all fall short.
   */
  private prefixCut(bucket: number, size: number, need: number, unit: boolean): Cut | null {
    const { keys, weights } = this.membersOf(bucket);
    const count = selectByWeight(keys, weights, size, need, unit);
    if (count < 0) return null;
    const maxKey = keys[count - 1]!;
    this.kept = { bucket, maxKey, count };
    return { bucket, maxKey };
  }

  /** Σ bucketMass[0..bucket). */
  private massBefore(bucket: number): number {
    return massBelow[Math.min(bucket, this.numUsed)]!;
  }

  private massOf(cut: Cut): number {
    let total = this.massBefore(cut.bucket);
    const kept = this.keptMembers(cut);
    if (kept > 0) {
      const { weights } = this.membersOf(cut.bucket);
      for (let j = 0; j < kept; j++) total += weights[j]!;
    }
    return total;
  }

  /** The first bucket b whose mass reaches past `mass` (massBelow[b + 1] > mass, or ≥ when `inclusive`); NUM_BUCKETS if none. */
  private bucketReaching(mass: number, inclusive: boolean): number {
    const used = this.numUsed;
    let lo = 0;
    let hi = used;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const above = massBelow[mid + 1]!;
      if (inclusive ? above >= mass : above > mass) hi = mid;
      else lo = mid + 1;
    }
    return lo < used ? lo : NUM_BUCKETS;
  }

  private cutTopK(k: number): Cut {
    let cum = 0;
    for (let b = 0; b < this.numUsed; b++) {
      const c = bucketCount[b]!;
      if (cum + c >= k) return this.prefixCut(b, c, k - cum, true) ?? ALL;
      cum += c;
    }
    return ALL;
  }

  /** The shortest prefix of `cut` whose mass reaches topP × the mass of `cut`. */
  private cutTopP(cut: Cut, topP: number): Cut {
    const target = topP * this.massOf(cut);
    const b = this.bucketReaching(target, true);
    if (b < cut.bucket) {
      const size = this.membersOf(b).keys.length;
      return this.prefixCut(b, size, target - this.massBefore(b), false) ?? { bucket: b + 1, maxKey: -Infinity };
    }
    const kept = this.keptMembers(cut);
    if (kept === 0) return cut;
    return this.prefixCut(cut.bucket, kept, target - this.massBefore(cut.bucket), false) ?? cut;
  }

  /** Keeps z ≥ ln(minP), i.e. probability ≥ minP × the top probability. */
  private cutMinP(cut: Cut, zMin: number): Cut {
    // Buckets before `boundary` hold only z > zMin, buckets after it only z < zMin (expIndex is monotone).
    const boundary = expIndex(zMin);
    if (boundary > cut.bucket || (boundary === cut.bucket && cut.maxKey === -Infinity)) return cut;
    if (bucketMass[boundary] === 0) return { bucket: boundary, maxKey: -Infinity };
    const { keys } = this.membersOf(boundary);
    const size = boundary === cut.bucket ? this.keptMembers(cut) : keys.length;
    let maxKey = -Infinity;
    for (let j = 0; j < size; j++) {
      const key = keys[j]!;
      if (key > maxKey && (this.logits[key % MAX_VOCAB_SIZE]! - this.maxLogit) * this.invT >= zMin) maxKey = key;
    }
    return { bucket: boundary, maxKey };
  }

  /** Inverse-CDF draw: find the bucket by binary search over the bucket masses, then scan its members. */
  private sample(cut: Cut, u: number): TokenId {
    const target = u * this.massOf(cut);
    const b = this.bucketReaching(target, false);
    if (b < cut.bucket) return this.scanBucket(b, target - this.massBefore(b));
    let cum = this.massBefore(cut.bucket);
    let last = -1;
    const kept = this.keptMembers(cut);
    if (kept > 0) {
      const { keys, weights } = this.membersOf(cut.bucket);
      let j = 0;
      while (j < kept - 1 && (cum += weights[j]!) <= target) j++;
      last = keys[j]! % MAX_VOCAB_SIZE; // the member where the running mass passes the target, or the last one
      if (j < kept - 1) return last;
    }
    // Only reachable through rounding at the very end of the distribution: take the last kept token.
    for (let c = Math.min(cut.bucket, this.numUsed) - 1; last < 0 && c >= 0; c--)
      if (bucketMass[c]! > 0) last = this.scanBucket(c, Infinity);
    return last;
  }

  /** The member of `bucket` (in id order) at which the running mass first exceeds `remaining`; the last member if none. */
  private scanBucket(bucket: number, remaining: number): TokenId {
    const { logits, maxLogit, invT, zFloor } = this;
    const { center, radius } = this.logitRange(bucket);
    const len = logits.length;
    const table = EXP_TABLE;
    let cum = 0;
    let last = -1;
    for (let i = 0; i < len; i++) {
      const l = logits[i]!;
      if (Math.abs(l - center) > radius) continue;
      const z = (l - maxLogit) * invT;
      if (!(z >= zFloor)) continue;
      const n = (0.5 - z * STEPS_PER_NAT) | 0;
      if (n !== bucket) continue;
      last = i;
      const r = z + n * STEP;
      cum += table[n]! * (1 + r * (1 + r * (0.5 + r * SIXTH)));
      if (cum > remaining) return i;
    }
    return last;
  }
}
