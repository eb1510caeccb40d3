/**
 * Reusable scratch buffers for the converter. Fresh multi-megabyte allocations cost page faults on
 * every first touch (on small VMs that alone caps conversion far below disk speed), and tensors are
 * converted one after another, so the same few buffers can serve every tensor.
 * @module
 */

/** Buffers by power-of-two size class; `take` returns a buffer at least `bytes` long. */
class BufferPool {
  readonly #free = new Map<number, Uint8Array[]>();
  #held = 0;

  take(bytes: number): Uint8Array {
    const size = 2 ** Math.max(16, Math.ceil(Math.log2(Math.max(1, bytes))));
    const buf = this.#free.get(size)?.pop();
    if (!buf) return new Uint8Array(size);
    this.#held -= size;
    return buf;
  }

  give(buf: Uint8Array): void {
    const size = buf.buffer.byteLength;
    if (buf.byteOffset !== 0 || size !== buf.length) return; // only whole buffers from take()
    let list = this.#free.get(size);
    if (!list) {
      list = [];
      this.#free.set(size, list);
    }
    if (list.length < 4) {
      list.push(buf);
      this.#held += size;
    }
  }

  /** Bytes kept for reuse. */
  get heldBytes(): number {
    return this.#held;
  }
}

/** The converter's shared pool (tensors are written one at a time). */
export const scratch = new BufferPool();
