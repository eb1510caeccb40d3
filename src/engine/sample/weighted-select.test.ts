import { describe, expect, it } from "vitest";
import { partitionAtMost, selectByWeight } from "./weighted-select.js";

function lcg(seed: number): () => number {
  let x = seed >>> 0;
  return () => {
    x = (Math.imul(x, 1_103_515_245) + 12_345) >>> 0;
    return x / 4_294_967_296;
  };
}

/** The answer by sorting: smallest key whose prefix weight reaches `need`. */
function bySorting(keys: number[], weights: number[], need: number, unit: boolean): number {
  const order = keys.map((k, i) => [k, unit ? 1 : weights[i]!] as const).sort((a, b) => a[0] - b[0]);
  let cum = 0;
  for (const [k, w] of order) if ((cum += w) >= need) return k;
  return Infinity;
}

describe("selectByWeight", () => {
  it("agrees with sorting for random keys, weights and targets (sizes 1..300, weighted and counting)", () => {
    const rand = lcg(7);
    for (let trial = 0; trial < 400; trial++) {
      const size = 1 + Math.floor(rand() * 300);
      const keySet = new Set<number>();
      while (keySet.size < size) keySet.add(Math.floor(rand() * 1e6));
      const keys = [...keySet];
      const weights = keys.map(() => (rand() < 0.1 ? 0 : rand()));
      const unit = trial % 3 === 0;
      const total = unit ? size : weights.reduce((a, b) => a + b, 0);
      const need = trial % 17 === 0 ? total * 1.5 : rand() * total;
      const keyArray = Float64Array.from(keys);
      const count = selectByWeight(keyArray, Float64Array.from(weights), size, need, unit);
      const expected = bySorting(keys, weights, need, unit);
      if (expected === Infinity) {
        expect(count).toBe(-1);
        continue;
      }
      expect(keyArray[count - 1]).toBe(expected);
      // The selected prefix comes first: exactly the keys ≤ the answer.
      for (let i = 0; i < size; i++) expect(keyArray[i]! <= expected).toBe(i < count);
    }
  });

  it("handles sorted and reverse-sorted input (pivot choice)", () => {
    const n = 5000;
    const ascending = Float64Array.from({ length: n }, (_, i) => i);
    expect(selectByWeight(ascending, new Float64Array(n).fill(1), n, 2500)).toBe(2500);
    expect(ascending[2499]).toBe(2499);
    const descending = Float64Array.from({ length: n }, (_, i) => n - i);
    expect(selectByWeight(descending, new Float64Array(n).fill(1), n, 1, true)).toBe(1);
    expect(descending[0]).toBe(1);
  });

  it("keeps keys and weights paired while reordering", () => {
    const keys = Float64Array.from([5, 3, 9, 1, 7]);
    const weights = Float64Array.from([50, 30, 90, 10, 70]);
    selectByWeight(keys, weights, 5, 100);
    for (let i = 0; i < 5; i++) expect(weights[i]).toBe(keys[i]! * 10);
    const kept = partitionAtMost(keys, weights, 5, 5);
    expect(kept).toBe(3);
    expect([...keys.subarray(0, 3)].sort()).toEqual([1, 3, 5]);
    for (let i = 0; i < 5; i++) expect(weights[i]).toBe(keys[i]! * 10);
  });
});
