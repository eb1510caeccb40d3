/**
 * Tensor data for the GGUF writer, pulled lazily from a safetensors checkpoint: element-type
 * conversion (BF16/F16/F32 → F32/F16/BF16, round to nearest even as numpy/ggml do), and the layout
 * changes the converters need (transposed expert matrices with an optional column range, q/k row
 * permutation). Each source reads its tensor in bounded pieces when the writer reaches it.
 *
 * Data handed to the writer is already encoded in the target type (`{raw}` sources), so the
 * bytes depend only on the checkpoint's bytes: compiling twice gives identical files.
 * @module
 */
import { f32ToBf16, f32ToF16, GgmlType, type TensorSource } from "../model/gguf/gguf-writer.js";
import { scratch } from "./buffer-pool.js";
import { dtypeBytes, isFloatDtype, type FloatDtype, type SafetensorsCheckpoint, type TensorInfo } from "./safetensors.js";

/** The float types a compiled tensor can have. */
export type OutFloatType = GgmlType.F32 | GgmlType.F16 | GgmlType.BF16;

const OUT_BYTES: Record<OutFloatType, number> = { [GgmlType.F32]: 4, [GgmlType.F16]: 2, [GgmlType.BF16]: 2 };

// ---------------------------------------------------------------------------------------------
// Element conversion

/** IEEE half bits → float32 value. */
export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant === 0 ? sign * Number.POSITIVE_INFINITY : Number.NaN;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

let bf16ToF16Lut: Uint16Array | undefined;
let f16ToBf16Lut: Uint16Array | undefined;
let f16ToF32Lut: Float32Array | undefined;
const scratchF32 = new Float32Array(1);
const scratchU32 = new Uint32Array(scratchF32.buffer);

function bf16ToF16(): Uint16Array {
  if (!bf16ToF16Lut) {
    bf16ToF16Lut = new Uint16Array(65536);
    for (let b = 0; b < 65536; b++) {
      scratchU32[0] = b << 16;
      bf16ToF16Lut[b] = f32ToF16(scratchF32[0]!);
    }
  }
  return bf16ToF16Lut;
}
function f16ToF32(): Float32Array {
  if (!f16ToF32Lut) {
    f16ToF32Lut = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) {
      const v = halfToFloat(h);
      // Keep NaN payload sign bits predictable: ggml/numpy quiet NaNs.
      f16ToF32Lut[h] = v;
    }
  }
  return f16ToF32Lut;
}
function f16ToBf16(): Uint16Array {
  if (!f16ToBf16Lut) {
    const f = f16ToF32();
    f16ToBf16Lut = new Uint16Array(65536);
    for (let h = 0; h < 65536; h++) f16ToBf16Lut[h] = f32ToBf16(f[h]!);
  }
  return f16ToBf16Lut;
}

/**
 * Converts `count` elements of `src` (safetensors `from`, little-endian, 4-byte aligned buffer) to
 * ggml type `to`, into `out` (aligned, `count * bytes(to)` long).
 */
export function convertElements(from: FloatDtype, to: OutFloatType, src: Uint8Array, count: number, out: Uint8Array): void {
  const same =
    (from === "F32" && to === GgmlType.F32) || (from === "F16" && to === GgmlType.F16) || (from === "BF16" && to === GgmlType.BF16);
  if (same) {
    out.set(src.subarray(0, count * OUT_BYTES[to]));
    return;
  }
  if (from === "F32") {
    const s = new Float32Array(src.buffer, src.byteOffset, count);
    if (to === GgmlType.F16) {
      const o = new Uint16Array(out.buffer, out.byteOffset, count);
      for (let i = 0; i < count; i++) o[i] = f32ToF16(s[i]!);
    } else {
      const o = new Uint16Array(out.buffer, out.byteOffset, count);
      for (let i = 0; i < count; i++) o[i] = f32ToBf16(s[i]!);
    }
    return;
  }
  const s = new Uint16Array(src.buffer, src.byteOffset, count);
  if (to === GgmlType.F32) {
    if (from === "BF16") {
      const o = new Uint32Array(out.buffer, out.byteOffset, count);
      for (let i = 0; i < count; i++) o[i] = s[i]! << 16;
    } else {
      const lut = f16ToF32();
      const o = new Float32Array(out.buffer, out.byteOffset, count);
      for (let i = 0; i < count; i++) o[i] = lut[s[i]!]!;
    }
    return;
  }
  const lut = from === "BF16" ? bf16ToF16() : f16ToBf16();
  const o = new Uint16Array(out.buffer, out.byteOffset, count);
  for (let i = 0; i < count; i++) o[i] = lut[s[i]!]!;
}

function floatDtype(t: TensorInfo): FloatDtype {
  if (!isFloatDtype(t.dtype)) throw new Error(`tensor ${t.name} has dtype ${t.dtype}; the compiler converts BF16, F16 and F32 checkpoints`);
  return t.dtype;
}

/** Progress hook: called with the number of checkpoint bytes consumed. */
export type ReadProgress = (bytes: number) => void;

// ---------------------------------------------------------------------------------------------
// Sources

/** The tensor as stored (ggml order is the checkpoint's row-major order reversed), converted to `to`. */
export function directSource(ckpt: SafetensorsCheckpoint, t: TensorInfo, to: OutFloatType, onRead?: ReadProgress): TensorSource {
  const from = floatDtype(t);
  return {
    raw: async function* () {
      const inEl = dtypeBytes(from);
      const same = inEl === OUT_BYTES[to] && (from === "F32" || (from === "F16") === (to === GgmlType.F16));
      let out: Uint8Array | undefined;
      try {
        for await (const chunk of ckpt.chunks(t)) {
          if (same) {
            onRead?.(chunk.length);
            yield chunk; // the writer copies it before asking for the next one
            continue;
          }
          const n = chunk.length / inEl;
          out ??= scratch.take((Math.min(t.byteLength, 8 << 20) / inEl) * OUT_BYTES[to]);
          const o = out.subarray(0, n * OUT_BYTES[to]);
          convertElements(from, to, chunk, n, o);
          onRead?.(chunk.length);
          yield o;
        }
      } finally {
        if (out) scratch.give(out);
      }
    },
  };
}

/**
 * For a checkpoint tensor of shape [E, A, B] (E may be absent: [A, B]), the per-expert transpose
 * [E, B, A], keeping only columns `colStart .. colStart + colCount` of B: output row b of expert e
 * is column `colStart + b` of the expert's [A, B] matrix. ggml shape: [A, colCount, E].
 * Memory: one expert's output rows (colCount × A elements) plus a bounded input window.
 */
export function transposedSource(
  ckpt: SafetensorsCheckpoint,
  t: TensorInfo,
  to: OutFloatType,
  colStart: number,
  colCount: number,
  onRead?: ReadProgress,
): TensorSource {
  const from = floatDtype(t);
  const dims = t.shape.length === 2 ? [1, t.shape[0]!, t.shape[1]!] : t.shape;
  if (dims.length !== 3) throw new Error(`tensor ${t.name}: expected 2 or 3 dimensions, got [${t.shape.join(", ")}]`);
  const [E, A, B] = dims as [number, number, number];
  if (colStart < 0 || colCount < 1 || colStart + colCount > B)
    throw new Error(`tensor ${t.name}: columns ${colStart}+${colCount} outside ${B}`);
  const el = dtypeBytes(from);
  return {
    raw: async function* () {
      const wide = el === 4;
      const direct = el === 2 && OUT_BYTES[to] === 2;
      const tmpBase = scratch.take(direct ? 1 : colCount * A * el);
      const outBase = scratch.take(colCount * A * OUT_BYTES[to]);
      const tmp = direct
        ? new Uint16Array(0)
        : wide
          ? new Uint32Array(tmpBase.buffer, 0, colCount * A)
          : new Uint16Array(tmpBase.buffer, 0, colCount * A);
      const tmpBytes = tmpBase.subarray(0, direct ? 0 : colCount * A * el);
      const out = outBase.subarray(0, colCount * A * OUT_BYTES[to]);
      const direct16 = direct ? new Uint16Array(outBase.buffer, 0, colCount * A) : null;
      const lut = direct16 && from !== (to === GgmlType.F16 ? "F16" : "BF16") ? (from === "BF16" ? bf16ToF16() : f16ToBf16()) : null;
      // Read whole input rows (B elements) in windows of ≈8 MiB, the next window while this one is transposed.
      const rowsPerRead = Math.max(1, Math.floor((8 << 20) / (B * el)));
      const inBufs = [scratch.take(rowsPerRead * B * el), scratch.take(rowsPerRead * B * el)];
      const windows: Array<[number, number]> = [];
      for (let e = 0; e < E; e++) for (let a0 = 0; a0 < A; a0 += rowsPerRead) windows.push([e, a0]);
      const readWindow = (w: number) => {
        const [e, a0] = windows[w]!;
        const rows = Math.min(rowsPerRead, A - a0);
        return ckpt.read(t, (e * A + a0) * B * el, rows * B * el, inBufs[w % 2]);
      };
      let pending = windows.length > 0 ? readWindow(0) : null;
      try {
        for (let w = 0; w < windows.length; w++) {
          const a0 = windows[w]![1];
          const bytes = await pending!;
          pending = w + 1 < windows.length ? readWindow(w + 1) : null;
          const rows = bytes.length / (B * el);
          const src = wide
            ? new Uint32Array(bytes.buffer, bytes.byteOffset, rows * B)
            : new Uint16Array(bytes.buffer, bytes.byteOffset, rows * B);
          // Blocked transpose (64×64 tiles keep both sides in cache); 16-bit → 16-bit converts on the way.
          const dst = direct16 ?? tmp;
          for (let r0 = 0; r0 < rows; r0 += 64) {
            const r1 = Math.min(rows, r0 + 64);
            for (let b0 = 0; b0 < colCount; b0 += 64) {
              const b1 = Math.min(colCount, b0 + 64);
              for (let r = r0; r < r1; r++) {
                const si = r * B + colStart;
                const oi = a0 + r;
                if (lut) for (let b = b0; b < b1; b++) dst[b * A + oi] = lut[src[si + b]!]!;
                else for (let b = b0; b < b1; b++) dst[b * A + oi] = src[si + b]!;
              }
            }
          }
          onRead?.(bytes.length);
          if (a0 + rows < A) continue; // expert e not complete yet
          if (!direct16) convertElements(from, to, tmpBytes, colCount * A, out);
          yield out;
        }
      } finally {
        await pending?.catch(() => {});
        for (const b of [tmpBase, outBase, ...inBufs]) scratch.give(b);
      }
    },
  };
}

/**
 * Row permutation llama.cpp applies to Llama q/k projections (`LlamaModel.permute`): within each of
 * `nHead` blocks of rows, rows are reordered from [2, D/2] to [D/2, 2] (rotate-half → interleaved
 * RoPE pairs). `t` is [rows, cols].
 */
export function permutedRowsSource(
  ckpt: SafetensorsCheckpoint,
  t: TensorInfo,
  to: OutFloatType,
  nHead: number,
  onRead?: ReadProgress,
): TensorSource {
  const from = floatDtype(t);
  const [rows, cols] = t.shape as [number, number];
  if (t.shape.length !== 2 && t.shape.length !== 1) throw new Error(`tensor ${t.name}: cannot permute shape [${t.shape.join(", ")}]`);
  const c = t.shape.length === 1 ? 1 : cols;
  if (rows % (nHead * 2) !== 0) throw new Error(`tensor ${t.name}: ${rows} rows do not split into ${nHead} heads of rotary pairs`);
  const D = rows / nHead;
  const el = dtypeBytes(from);
  const rowBytes = c * el;
  return {
    raw: async function* () {
      const block = new Uint8Array(D * rowBytes);
      const permuted = new Uint8Array(D * rowBytes);
      const out = new Uint8Array(D * c * OUT_BYTES[to]);
      for (let h = 0; h < nHead; h++) {
        await ckpt.read(t, h * D * rowBytes, D * rowBytes, block);
        for (let j = 0; j < D / 2; j++) {
          for (let i = 0; i < 2; i++) {
            const srcRow = i * (D / 2) + j;
            const dstRow = j * 2 + i;
            permuted.set(block.subarray(srcRow * rowBytes, (srcRow + 1) * rowBytes), dstRow * rowBytes);
          }
        }
        convertElements(from, to, permuted, D * c, out);
        onRead?.(block.length);
        yield out;
      }
    },
  };
}

/** Float32 values computed by the compiler (e.g. `rope_freqs`), encoded as `to`. */
export function valuesSource(values: Float32Array, to: OutFloatType): TensorSource {
  return {
    raw: function* () {
      const out = new Uint8Array(values.length * OUT_BYTES[to]);
      convertElements("F32", to, new Uint8Array(values.buffer, values.byteOffset, values.byteLength), values.length, out);
      yield out;
    },
  };
}
