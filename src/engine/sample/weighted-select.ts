/**
 * Weighted quickselect over distinct float64 sort keys: the order statistic of a prefix by weight, in
 * expected O(n) time, so that a histogram bucket holding most of a flat vocabulary never needs a full sort.
 * @module
 */

function swap(keys: Float64Array, weights: Float64Array, a: number, b: number): void {
  const k = keys[a]!;
  keys[a] = keys[b]!;
  keys[b] = k;
  const w = weights[a]!;
  weights[a] = weights[b]!;
  weights[b] = w;
}

/**
 * Finds the smallest key t among keys[0..size) such that the total weight of the keys ≤ t reaches `need`
 * (weights are ≥ 0; `unit` treats every weight as 1, for counting). Reorders both arrays in place,
 * deterministically (median-of-three pivots), so that those keys come first, t last among them; returns
 * how many they are (t = keys[count - 1]), or -1 when the total weight stays below `need`. Keys must be
 * distinct.
 */
export function selectByWeight(keys: Float64Array, weights: Float64Array, size: number, need: number, unit = false): number {
  let lo = 0;
  let hi = size;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    // Median of three to the end, as the pivot.
    if (keys[mid]! < keys[lo]!) swap(keys, weights, mid, lo);
    if (keys[hi - 1]! < keys[lo]!) swap(keys, weights, hi - 1, lo);
    if (keys[mid]! < keys[hi - 1]!) swap(keys, weights, mid, hi - 1);
    const pivot = keys[hi - 1]!;
    let store = lo;
    let less = 0;
    for (let j = lo; j < hi - 1; j++) {
      if (keys[j]! < pivot) {
        less += unit ? 1 : weights[j]!;
        swap(keys, weights, j, store++);
      }
    }
    swap(keys, weights, store, hi - 1);
    const pivotWeight = unit ? 1 : weights[store]!;
    if (less >= need && store > lo) {
      hi = store;
    } else if (less + pivotWeight >= need) {
      return store + 1;
    } else {
      need -= less + pivotWeight;
      lo = store + 1;
    }
  }
  return -1;
}

/** Moves the keys ≤ `limit` (with their weights) to the front; returns how many there are. */
export function partitionAtMost(keys: Float64Array, weights: Float64Array, size: number, limit: number): number {
  let store = 0;
  for (let j = 0; j < size; j++) if (keys[j]! <= limit) swap(keys, weights, j, store++);
  return store;
}
