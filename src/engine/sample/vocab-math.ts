/**
 * Single-pass primitives over a vocabulary-sized Float32Array of logits (V up to ~2M, typically 200k),
 * shared by the draw and the logprobs code. None of them sorts or allocates anything vocabulary-sized.
 *
 * NaN logits are treated as impossible tokens (like -Infinity) everywhere.
 * @module
 */

/** Exponents below this (relative to the maximum logit) count as probability 0: e^-40 ≈ 4e-18, so even 2M such tokens weigh < 1e-11. */
export const Z_FLOOR = -40;
/** Resolution of the exp table, and the width of the draw's histogram buckets (1/256 nat). */
export const STEPS_PER_NAT = 256;
const STEP = 1 / STEPS_PER_NAT;
const SIXTH = 1 / 6;
/** EXP_TABLE[n] = e^(-n/256) for n = 0 .. 40·256. */
export const EXP_TABLE = Float64Array.from({ length: -Z_FLOOR * STEPS_PER_NAT + 1 }, (_, n) => Math.exp(-n * STEP));

/** The table index of z (round(-256·z)), for z in [Z_FLOOR, 0]. Monotone: z1 ≤ z2 ⇒ index(z1) ≥ index(z2). */
export function expIndex(z: number): number {
  return (0.5 - z * STEPS_PER_NAT) | 0;
}

/**
 * e^z for z in [Z_FLOOR, 0] with relative error < 2e-12: a table step times a cubic for the remainder
 * (|r| ≤ 1/512). About 3× faster than Math.exp in V8, and bit-identical on every machine.
 * `n` must be `expIndex(z)`.
 */
export function expAt(z: number, n: number): number {
  const r = z + n * STEP;
  return EXP_TABLE[n]! * (1 + r * (1 + r * (0.5 + r * SIXTH)));
}

/**
 * log Σ exp(logits) given their maximum, skipping tokens more than 40 nats below it (together they weigh
 * < 1e-11). The exp is `expAt` inlined by hand: hot loops must not call across modules (test runners and
 * CJS shims turn such calls into property-getter calls, 10× slower).
 */
export function logSumExp(logits: Float32Array, max: number): number {
  if (!Number.isFinite(max)) return max;
  const table = EXP_TABLE;
  const len = logits.length;
  let s0 = 0;
  let s1 = 0;
  // An odd element first, so that no tail code goes without type feedback (see maxLogit).
  let i = len & 1;
  if (i === 1) {
    const z = logits[0]! - max;
    if (z >= Z_FLOOR) s0 += expAt(z, expIndex(z));
  }
  for (; i < len; i += 2) {
    const z0 = logits[i]! - max;
    const z1 = logits[i + 1]! - max;
    if (z0 >= Z_FLOOR) {
      const n = (0.5 - z0 * STEPS_PER_NAT) | 0;
      const r = z0 + n * STEP;
      s0 += table[n]! * (1 + r * (1 + r * (0.5 + r * SIXTH)));
    }
    if (z1 >= Z_FLOOR) {
      const n = (0.5 - z1 * STEPS_PER_NAT) | 0;
      const r = z1 + n * STEP;
      s1 += table[n]! * (1 + r * (1 + r * (0.5 + r * SIXTH)));
    }
  }
  return max + Math.log(s0 + s1);
}

/**
 * The largest logit, ignoring NaN; -Infinity when there is none. Four lanes break the dependency chain;
 * the tail is one more block overlapping the last (re-reading elements is harmless for a maximum), because
 * a separate tail loop that never runs (V % 4 = 0) has no type feedback and deoptimises V8's code on
 * every call.
 */
export function maxLogit(logits: Float32Array): number {
  const len = logits.length;
  if (len < 4) return maxOfFew(logits);
  let m0 = -Infinity;
  let m1 = -Infinity;
  let m2 = -Infinity;
  let m3 = -Infinity;
  for (let i = 0; i < len; i += 4) {
    const base = i + 4 <= len ? i : len - 4;
    const v0 = logits[base]!;
    const v1 = logits[base + 1]!;
    const v2 = logits[base + 2]!;
    const v3 = logits[base + 3]!;
    if (v0 > m0) m0 = v0;
    if (v1 > m1) m1 = v1;
    if (v2 > m2) m2 = v2;
    if (v3 > m3) m3 = v3;
  }
  return Math.max(m0, m1, m2, m3);
}

function maxOfFew(logits: Float32Array): number {
  let m = -Infinity;
  for (const v of logits) if (v > m) m = v;
  return m;
}

/** The id of the largest logit, lowest id on ties, ignoring NaN and -Infinity; -1 when there is none. */
export function argmaxLogit(logits: Float32Array): number {
  const len = logits.length;
  if (len < 4) return argmaxOfFew(logits);
  let m0 = -Infinity,
    m1 = -Infinity,
    m2 = -Infinity,
    m3 = -Infinity;
  let i0 = -1,
    i1 = -1,
    i2 = -1,
    i3 = -1;
  // Four lanes, each keeping its first (lowest) id; the last block overlaps the previous one (see maxLogit).
  for (let i = 0; i < len; i += 4) {
    const base = i + 4 <= len ? i : len - 4;
    const v0 = logits[base]!;
    const v1 = logits[base + 1]!;
    const v2 = logits[base + 2]!;
    const v3 = logits[base + 3]!;
    if (v0 > m0) {
      m0 = v0;
      i0 = base;
    }
    if (v1 > m1) {
      m1 = v1;
      i1 = base + 1;
    }
    if (v2 > m2) {
      m2 = v2;
      i2 = base + 2;
    }
    if (v3 > m3) {
      m3 = v3;
      i3 = base + 3;
    }
  }
  // Across lanes, prefer the larger value, then the lower id (no array literal here: see maxLogit).
  let best = i0;
  let bestValue = m0;
  if (isBetter(m1, i1, bestValue, best)) {
    best = i1;
    bestValue = m1;
  }
  if (isBetter(m2, i2, bestValue, best)) {
    best = i2;
    bestValue = m2;
  }
  if (isBetter(m3, i3, bestValue, best)) best = i3;
  return best;
}

/** Whether candidate (value, id) beats (bestValue, best): found, and larger, or equal with a lower id. */
function isBetter(value: number, id: number, bestValue: number, best: number): boolean {
  return id >= 0 && (best < 0 || value > bestValue || (value === bestValue && id < best));
}

function argmaxOfFew(logits: Float32Array): number {
  let best = -1;
  let bestValue = -Infinity;
  logits.forEach((v, i) => {
    if (v > bestValue) {
      best = i;
      bestValue = v;
    }
  });
  return best;
}

/** Token ids must fit in 21 bits for `descendingKey` (2,097,152; the largest vocabularies today are ~262k). */
export const MAX_VOCAB_SIZE = 2_097_152;
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/**
 * A float64 whose ascending order is (logit descending, id ascending): the float32's bits mapped to an
 * order-preserving uint32, flipped, times 2^21, plus the id (< 2^53, so exact). Lets a native
 * Float64Array sort order candidates without a comparator. `value` must not be NaN.
 */
function descendingKey(value: number, id: number): number {
  f32[0] = value;
  const bits = u32[0]!;
  const ascending = bits & 0x80000000 ? ~bits >>> 0 : (bits | 0x80000000) >>> 0;
  return (0xffffffff - ascending) * MAX_VOCAB_SIZE + id;
}

function idOfKey(key: number): number {
  return key % MAX_VOCAB_SIZE;
}

let heapValues = new Float64Array(64);
let heapIds = new Int32Array(64);
let sortKeys = new Float64Array(64);

/** Whether heap entry a ranks below entry b (smaller logit, or equal logit and larger id). */
function isWorse(a: number, b: number): boolean {
  const va = heapValues[a]!;
  const vb = heapValues[b]!;
  return va < vb || (va === vb && heapIds[a]! > heapIds[b]!);
}

function swap(a: number, b: number): void {
  const v = heapValues[a]!;
  heapValues[a] = heapValues[b]!;
  heapValues[b] = v;
  const id = heapIds[a]!;
  heapIds[a] = heapIds[b]!;
  heapIds[b] = id;
}

function siftDown(pos: number, size: number): void {
  for (;;) {
    const left = 2 * pos + 1;
    if (left >= size) return;
    const right = left + 1;
    const worse = right < size && isWorse(right, left) ? right : left;
    if (!isWorse(worse, pos)) return;
    swap(worse, pos);
    pos = worse;
  }
}

function siftUp(pos: number): void {
  while (pos > 0) {
    const parent = (pos - 1) >> 1;
    if (!isWorse(pos, parent)) return;
    swap(pos, parent);
    pos = parent;
  }
}

/**
 * The ids of the k largest logits, most likely first (ties: lowest id first), written to `out`; returns
 * how many there are (fewer than k when fewer logits are finite-or-+Infinity). One pass with a k-entry
 * min-heap whose root is the current k-th best: most logits are rejected by a single comparison.
 * Meant for small k (≤ a few hundred).
 */
export function selectTopK(logits: Float32Array, k: number, out: Int32Array): number {
  if (heapValues.length < k) {
    heapValues = new Float64Array(k);
    heapIds = new Int32Array(k);
    sortKeys = new Float64Array(k);
  }
  const len = logits.length;
  let size = 0;
  let i = 0;
  for (; i < len && size < k; i++) {
    const v = logits[i]!;
    if (!(v > -Infinity)) continue;
    heapValues[size] = v;
    heapIds[size] = i;
    siftUp(size++);
  }
  if (size === k) {
    let worst = heapValues[0]!;
    for (; i < len; i++) {
      const v = logits[i]!;
      if (v > worst) {
        heapValues[0] = v;
        heapIds[0] = i;
        siftDown(0, size);
        worst = heapValues[0]!;
      }
    }
  }
  const keys = sortKeys.subarray(0, size);
  for (let j = 0; j < size; j++) keys[j] = descendingKey(heapValues[j]!, heapIds[j]!);
  keys.sort();
  for (let j = 0; j < size; j++) out[j] = idOfKey(keys[j]!);
  return size;
}

/**
 * Runs each vocabulary loop once on a tiny input when the module loads. V8 optimises a long loop while
 * it runs (on-stack replacement); code after the loop that had never run then has no type feedback, and
 * that optimised code deoptimises there on every later call, re-running the loop in the interpreter until
 * the next replacement (measured: 1.5–2× slower samples). One small call first gives every line feedback.
 */
function warmUp(): void {
  const logits = Float32Array.from({ length: 37 }, (_, i) => Math.sin(i) * 3);
  const ids = new Int32Array(8);
  for (let round = 0; round < 2; round++) {
    logSumExp(logits, maxLogit(logits));
    logSumExp(logits.subarray(1), maxLogit(logits.subarray(1)));
    argmaxLogit(logits);
    argmaxLogit(Float32Array.of(1, -Infinity, 2, 2, NaN, 3, 3, 3, 0, 3, 3, 3));
    selectTopK(logits, 8, ids);
    descendingKey(logits[0]!, 0);
  }
}
warmUp();
