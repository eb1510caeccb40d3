/**
 * Grammar for the decimal integers in a range (JSON Schema `minimum`/`maximum` on integers), as
 * digit-by-digit alternatives: [123, 4567] → "12" [3-9] | "1" [3-9] [0-9] | [2-9] [0-9]{2} | … .
 * No leading zeros, no "-0"; unbounded sides allow up to `maxDigits` digits.
 * @module
 */
import { alt, cls, EMPTY, lit, type Node, rep, seq } from "./gbnf.js";

const DIGIT = cls("[0-9]");

function digitClass(from: string, to: string): Node {
  return from === to ? lit(from) : cls(`[${from}-${to}]`);
}

const nextDigit = (d: string, by: number) => String.fromCharCode(d.charCodeAt(0) + by);

/** Numbers written with exactly `a.length` digits between a and b (a ≤ b, same length). */
function sameLength(a: string, b: string): Node {
  if (a === b) return lit(a);
  let i = 0;
  while (a[i] === b[i]) i++;
  const prefix = a.slice(0, i);
  const ad = a[i] as string;
  const bd = b[i] as string;
  const rest = a.length - i - 1;
  if (rest === 0) return seq(lit(prefix), digitClass(ad, bd));
  const aTail = a.slice(i + 1);
  const bTail = b.slice(i + 1);
  const lowFull = /^0*$/.test(aTail);
  const highFull = /^9*$/.test(bTail);
  const alts: Node[] = [];
  let midFrom = ad;
  let midTo = bd;
  if (!lowFull) {
    alts.push(seq(lit(ad), sameLength(aTail, "9".repeat(rest))));
    midFrom = nextDigit(ad, 1);
  }
  if (!highFull) midTo = nextDigit(bd, -1);
  if (midFrom <= midTo) alts.push(seq(digitClass(midFrom, midTo), rep(DIGIT, rest, rest)));
  if (!highFull) alts.push(seq(lit(bd), sameLength("0".repeat(rest), bTail)));
  return seq(lit(prefix), alt(...alts));
}

/** Non-negative integers in [lo, hi]. */
function nonNegative(lo: bigint, hi: bigint): Node {
  const loS = lo.toString();
  const hiS = hi.toString();
  const parts: Node[] = [];
  for (let d = loS.length; d <= hiS.length; d++) {
    const a = d === loS.length ? loS : `1${"0".repeat(d - 1)}`;
    const b = d === hiS.length ? hiS : "9".repeat(d);
    parts.push(sameLength(a, b));
  }
  return alt(...parts);
}

/** Non-negative integers ≥ lo with at most maxDigits digits. */
function atLeast(lo: bigint, maxDigits: number): Node {
  const loS = lo.toString();
  if (loS.length > maxDigits) return EMPTY;
  const parts = [sameLength(loS, "9".repeat(loS.length))];
  if (loS.length < maxDigits) parts.push(seq(cls("[1-9]"), rep(DIGIT, loS.length, maxDigits - 1)));
  return alt(...parts);
}

/** Integers in [min, max] (null = unbounded on that side). The caller checks min ≤ max. */
export function integerRange(min: bigint | null, max: bigint | null, maxDigits = 16): Node {
  const parts: Node[] = [];
  if (max === null || max >= 0n) {
    const lo = min === null || min < 0n ? 0n : min;
    parts.push(max === null ? atLeast(lo, maxDigits) : nonNegative(lo, max));
  }
  if (min === null || min < 0n) {
    const absLo = max !== null && max < 0n ? -max : 1n;
    const absHi = min === null ? null : -min;
    parts.push(seq(lit("-"), absHi === null ? atLeast(absLo, maxDigits) : nonNegative(absLo, absHi)));
  }
  return alt(...parts);
}
