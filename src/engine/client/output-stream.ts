/**
 * Per-request output queue shared by the engine clients: outputs are pushed as the engine emits them
 * and pulled by `generate()`'s consumer.
 * @module
 */
import type { RequestOutput } from "../types.js";

export class OutputStream {
  readonly #items: RequestOutput[] = [];
  #error: Error | null = null;
  #wake: (() => void) | null = null;
  #done = false;

  push(out: RequestOutput): void {
    this.#items.push(out);
    this.#signal();
  }

  fail(err: Error): void {
    this.#error ??= err;
    this.#signal();
  }

  #signal(): void {
    const w = this.#wake;
    this.#wake = null;
    w?.();
  }

  /** Yields outputs until the one marked `finished`; throws the failure, if any. */
  async *drain(): AsyncGenerator<RequestOutput> {
    while (!this.#done) {
      const next = this.#items.shift();
      if (next) {
        if (next.finished) this.#done = true;
        yield next;
        continue;
      }
      if (this.#error) throw this.#error;
      await new Promise<void>((resolve) => (this.#wake = resolve));
    }
  }
}
