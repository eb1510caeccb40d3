/**
 * Typed-array views of C memory, for the code outside native/ that reads or writes llama.cpp's
 * buffers (the runner's `llama_batch` arrays, the logits, the grammar's candidates). A view aliases
 * the C memory without copying: it is valid while that memory is, and sees what llama.cpp writes
 * there later. `ptr` is an address as the bindings return it.
 * @module
 */
import koffi from "koffi";

/** The `n` int32s at `ptr`. */
export function viewInt32(ptr: bigint, n: number): Int32Array {
  return new Int32Array(koffi.view(ptr, n * 4));
}

/** The `n` float32s at `ptr`. */
export function viewFloat32(ptr: bigint, n: number): Float32Array {
  return new Float32Array(koffi.view(ptr, n * 4));
}

/** The `n` int8s at `ptr`. */
export function viewInt8(ptr: bigint, n: number): Int8Array {
  return new Int8Array(koffi.view(ptr, n));
}

/** The `n` addresses stored in the C array of pointers at `ptr` (e.g. `llama_batch.seq_id`). */
export function readPointers(ptr: bigint, n: number): bigint[] {
  return koffi.decode(ptr, "void *", n) as bigint[];
}

/** `bytes` bytes of C memory for the process's life: its address (to hand to C) and a view of it (to fill from JS). */
export function allocBytes(bytes: number): { ptr: bigint; buffer: ArrayBuffer } {
  const mem = koffi.alloc("uint8_t", bytes);
  return { ptr: koffi.address(mem), buffer: koffi.view(mem, bytes) };
}
