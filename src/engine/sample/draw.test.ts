import { describe, expect, it } from "vitest";
import { drawToken, HEAP_TOP_K, type Truncation } from "./draw.js";
import { maxLogit, Z_FLOOR } from "./vocab-math.js";

/** Deterministic pseudo-random numbers in [0, 1). */
function lcg(seed: number): () => number {
  let x = seed >>> 0;
  return () => {
    x = (Math.imul(x, 1_103_515_245) + 12_345) >>> 0;
    return x / 4_294_967_296;
  };
}

/**
 * The exact truncated distribution, the slow obvious way: sort everything by (z desc, id asc), keep
 * top-k, then the shortest prefix reaching top-p, then z ≥ ln(min-p), renormalise.
 */
function reference(logits: Float32Array, t: Truncation): Map<number, number> {
  const max = maxLogit(logits);
  const invT = 1 / t.temperature;
  const zOf = (id: number) => (logits[id]! - max) * invT;
  let order = [...logits.keys()].filter((id) => zOf(id) >= Z_FLOOR).sort((a, b) => logits[b]! - logits[a]! || a - b);
  if (t.topK > 0) order = order.slice(0, t.topK);
  if (t.topP < 1) {
    const total = order.reduce((acc, id) => acc + Math.exp(zOf(id)), 0);
    let cum = 0;
    const end = order.findIndex((id) => (cum += Math.exp(zOf(id))) >= t.topP * total);
    order = order.slice(0, end + 1);
  }
  if (t.minP > 0) order = order.filter((id) => zOf(id) >= Math.log(t.minP));
  const total = order.reduce((acc, id) => acc + Math.exp(zOf(id)), 0);
  return new Map(order.map((id) => [id, Math.exp(zOf(id)) / total]));
}

/** drawToken at N evenly spaced u: an inverse CDF, so each token's count is within ±1 of p × N. */
function stratifiedCounts(logits: Float32Array, t: Truncation, n: number): Map<number, number> {
  const counts = new Map<number, number>();
  for (let j = 0; j < n; j++) {
    const id = drawToken(logits, t, (j + 0.5) / n);
    counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  return counts;
}

function expectMatchesReference(logits: Float32Array, t: Truncation, n = 1000): void {
  const expected = reference(logits, t);
  const counts = stratifiedCounts(logits, t, n);
  for (const [id, _count] of counts) {
    if (!expected.has(id))
      throw new Error(`${JSON.stringify(t)}: drew token ${id} (logit ${logits[id]}) outside the reference set of ${expected.size}`);
  }
  for (const [id, p] of expected) {
    const count = counts.get(id) ?? 0;
    if (Math.abs(count - p * n) > 2) throw new Error(`${JSON.stringify(t)}: token ${id} drawn ${count}/${n} times, expected p = ${p}`);
  }
}

const V = 3000;
const logitKinds: Array<[string, () => Float32Array]> = [
  ["flat", () => Float32Array.from({ length: V }, lcg(1)).map((x) => x * 2)],
  ["very flat (a few buckets hold everything)", () => Float32Array.from({ length: V }, lcg(2)).map((x) => x * 0.005)],
  ["peaked", () => Float32Array.from({ length: V }, lcg(3)).map((x) => x * 40 - 20)],
  ["quantised (many exact ties)", () => Float32Array.from({ length: V }, lcg(4)).map((x) => Math.round(x * 12) / 4)],
  [
    "with NaN and -Infinity",
    () => {
      const logits = Float32Array.from({ length: V }, lcg(5)).map((x) => x * 3);
      for (let i = 0; i < V; i += 7) logits[i] = i % 2 === 0 ? NaN : -Infinity;
      return logits;
    },
  ],
];

describe("drawToken against a sort-everything reference", () => {
  const pick = lcg(99);
  const choose = <T>(xs: readonly T[]): T => xs[Math.floor(pick() * xs.length)]!;
  for (const [name, make] of logitKinds) {
    it(`${name}: every truncation combination draws the exact distribution`, () => {
      const logits = make();
      const combos: Truncation[] = [
        { temperature: 1, topK: 0, topP: 1, minP: 0 },
        { temperature: 1, topK: 0, topP: 0.9, minP: 0 },
        { temperature: 1, topK: HEAP_TOP_K, topP: 1, minP: 0 },
        { temperature: 1, topK: HEAP_TOP_K + 1, topP: 1, minP: 0 },
        { temperature: 0.7, topK: 0, topP: 1, minP: 0.37 },
      ];
      for (let i = 0; i < 6; i++) {
        combos.push({
          temperature: choose([0.3, 0.7, 1, 1.9]),
          topK: choose([0, 0, 1, 7, 40, HEAP_TOP_K, HEAP_TOP_K + 1, 700, V - 1]),
          topP: choose([1, 1, 0.93, 0.61, 0.37, 0.013]),
          minP: choose([0, 0, 0.011, 0.2, 0.83]),
        });
      }
      for (const t of combos) expectMatchesReference(logits, t);
    });
  }

  it("returns -1 when no token is possible", () => {
    for (const topK of [0, 5]) {
      const t = { temperature: 1, topK, topP: 1, minP: 0 };
      expect(drawToken(new Float32Array([NaN, -Infinity, NaN, -Infinity, NaN, -Infinity]), t, 0.5)).toBe(-1);
      expect(drawToken(new Float32Array([0, Infinity, 1, 2, 3, 4]), t, 0.5)).toBe(-1);
    }
  });

  it("never sees a token below the floor and handles u at the ends of [0, 1)", () => {
    const logits = new Float32Array([0, -39, -41, -1000, NaN]);
    const t = { temperature: 1, topK: 0, topP: 1, minP: 0 };
    expect(drawToken(logits, t, 0)).toBe(0);
    const last = drawToken(logits, t, 1 - 2 ** -53);
    expect(last === 1 || last === 0).toBe(true);
    for (let j = 0; j < 1000; j++) expect(drawToken(logits, t, j / 1000)).toBeLessThan(2);
  });
});
