/**
 * A small LRU cache for compiled grammars, keyed by a hash of what produced them (schemas are
 * converted once per distinct request shape, not once per request).
 * @module
 */
import { createHash } from "node:crypto";

export class LruCache<V> {
  readonly #map = new Map<string, V>();
  #hits = 0;
  #misses = 0;

  constructor(readonly capacity: number) {}

  get(key: string): V | undefined {
    const v = this.#map.get(key);
    if (v === undefined) {
      this.#misses++;
      return undefined;
    }
    this.#hits++;
    this.#map.delete(key);
    this.#map.set(key, v);
    return v;
  }

  set(key: string, value: V): void {
    this.#map.delete(key);
    this.#map.set(key, value);
    while (this.#map.size > this.capacity) {
      const oldest = this.#map.keys().next().value as string;
      this.#map.delete(oldest);
    }
  }

  /** The cached value, or `make()` stored under `key`. */
  getOrCreate(key: string, make: () => V): V {
    const hit = this.get(key);
    if (hit !== undefined) return hit;
    const v = make();
    this.set(key, v);
    return v;
  }

  get size(): number {
    return this.#map.size;
  }

  get stats(): { hits: number; misses: number } {
    return { hits: this.#hits, misses: this.#misses };
  }
}

/** SHA-256 of a JSON-serialisable value (key order as given). */
export function hashKey(value: unknown): string {
  return createHash("sha256").update(JSON.stringify(value)).digest("hex");
}
