/**
 * A small, seedable pseudo-random generator for sampling: xoshiro128** (Blackman & Vigna) over 32-bit
 * integer arithmetic only, seeded by splitmix32. The same (seed, stream) gives the same sequence on every
 * machine and Node version; there are no 64-bit multiplies and no platform-dependent floating point.
 * Not cryptographically secure (it does not need to be).
 * @module
 */

import { randomFillSync } from "node:crypto";

const TWO_POW_26 = 67_108_864;
const TWO_POW_53 = 9_007_199_254_740_992;

/** One step of splitmix32's output function (Stafford mix over a Weyl sequence). */
function mix32(x: number): number {
  let z = (x + 0x9e3779b9) | 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

export class Prng {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;

  /** Prefer `createPrng`. The four words must not all be zero. */
  constructor(words: ArrayLike<number>) {
    this.s0 = (words[0] ?? 0) >>> 0;
    this.s1 = (words[1] ?? 0) >>> 0;
    this.s2 = (words[2] ?? 0) >>> 0;
    this.s3 = (words[3] ?? 0) >>> 0;
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1;
  }

  /** The next 32 random bits as an unsigned integer. */
  nextUint32(): number {
    const s1 = this.s1;
    const product = Math.imul(s1, 5);
    const rotated = (product << 7) | (product >>> 25);
    const result = Math.imul(rotated, 9) >>> 0;
    const t = s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = (this.s3 << 11) | (this.s3 >>> 21);
    return result;
  }

  /** A uniform double in [0, 1) with 53 random bits. */
  nextDouble(): number {
    const hi = this.nextUint32() >>> 5;
    const lo = this.nextUint32() >>> 6;
    return (hi * TWO_POW_26 + lo) / TWO_POW_53;
  }
}

/**
 * A generator for `seed` (any safe integer, negative included) and `stream` (e.g. the completion index of
 * a request with n > 1: the streams of one seed are independent). Without a seed the state comes from the
 * operating system's CSPRNG.
 */
export function createPrng(seed?: number, stream = 0): Prng {
  if (seed === undefined) return new Prng(randomFillSync(new Uint32Array(4)));
  if (!Number.isSafeInteger(seed)) throw new RangeError(`seed must be a safe integer (got ${seed})`);
  if (!Number.isSafeInteger(stream)) throw new RangeError(`stream must be a safe integer (got ${stream})`);
  const seed64 = BigInt.asUintN(64, BigInt(seed));
  const stream64 = BigInt.asUintN(64, BigInt(stream));
  const parts = [seed64 & 0xffffffffn, seed64 >> 32n, stream64 & 0xffffffffn, stream64 >> 32n];
  let x = 0x2545f491;
  for (const part of parts) x = mix32(x ^ Number(part));
  const words = new Uint32Array(4);
  for (let i = 0; i < 4; i++) {
    x = (x + 0x9e3779b9) | 0;
    words[i] = mix32(x);
  }
  return new Prng(words);
}
