/**
 * Streaming GGUF v3 writer.
 *
 * GGUF puts every tensor's shape, type and data offset in the header, before any data, so the writer
 * takes all metadata and tensor *declarations* up front, writes the header, then pulls each tensor's
 * data from its source in declaration order and streams it to disk. A tensor's values are never held
 * in memory whole unless its source chooses to.
 *
 * Layout written (ggml `gguf.cpp`, gguf-py `gguf_writer.py`): magic "GGUF", version 3, tensor count
 * (u64), kv count (u64), the kvs, the tensor infos (name, n_dims, ne[] innermost-first, ggml type,
 * offset relative to the data section), zero padding to the alignment, then each tensor's bytes
 * followed by zero padding to the alignment. Little-endian throughout.
 *
 * The output is a pure function of the inputs (no timestamps, insertion order kept), so identical
 * inputs give byte-identical files. The file is written under a temporary name in the destination
 * folder and renamed into place at the end: readers never see a partial file.
 * @module
 */
import { open, rename, unlink, mkdir, type FileHandle } from "node:fs/promises";
import { dirname, basename, join } from "node:path";
import { randomBytes } from "node:crypto";

/** GGUF metadata value types (`gguf_type`). */
export enum GgufValueType {
  UINT8 = 0,
  INT8 = 1,
  UINT16 = 2,
  INT16 = 3,
  UINT32 = 4,
  INT32 = 5,
  FLOAT32 = 6,
  BOOL = 7,
  STRING = 8,
  ARRAY = 9,
  UINT64 = 10,
  INT64 = 11,
  FLOAT64 = 12,
}

/** ggml tensor types (`ggml_type`), the subset whose block layout this module knows. */
export enum GgmlType {
  F32 = 0,
  F16 = 1,
  Q4_0 = 2,
  Q4_1 = 3,
  Q5_0 = 6,
  Q5_1 = 7,
  Q8_0 = 8,
  Q8_1 = 9,
  Q2_K = 10,
  Q3_K = 11,
  Q4_K = 12,
  Q5_K = 13,
  Q6_K = 14,
  Q8_K = 15,
  IQ2_XXS = 16,
  IQ2_XS = 17,
  IQ3_XXS = 18,
  IQ1_S = 19,
  IQ4_NL = 20,
  IQ3_S = 21,
  IQ2_S = 22,
  IQ4_XS = 23,
  I8 = 24,
  I16 = 25,
  I32 = 26,
  I64 = 27,
  F64 = 28,
  IQ1_M = 29,
  BF16 = 30,
  TQ1_0 = 34,
  TQ2_0 = 35,
  MXFP4 = 39,
}

const QK_K = 256;
/** [elements per block, bytes per block] (gguf-py `GGML_QUANT_SIZES`). */
const TYPE_SIZES: Readonly<Record<GgmlType, readonly [number, number]>> = {
  [GgmlType.F32]: [1, 4],
  [GgmlType.F16]: [1, 2],
  [GgmlType.Q4_0]: [32, 2 + 16],
  [GgmlType.Q4_1]: [32, 2 + 2 + 16],
  [GgmlType.Q5_0]: [32, 2 + 4 + 16],
  [GgmlType.Q5_1]: [32, 2 + 2 + 4 + 16],
  [GgmlType.Q8_0]: [32, 2 + 32],
  [GgmlType.Q8_1]: [32, 4 + 4 + 32],
  [GgmlType.Q2_K]: [256, 2 + 2 + QK_K / 16 + QK_K / 4],
  [GgmlType.Q3_K]: [256, 2 + QK_K / 4 + QK_K / 8 + 12],
  [GgmlType.Q4_K]: [256, 2 + 2 + QK_K / 2 + 12],
  [GgmlType.Q5_K]: [256, 2 + 2 + QK_K / 2 + QK_K / 8 + 12],
  [GgmlType.Q6_K]: [256, 2 + QK_K / 2 + QK_K / 4 + QK_K / 16],
  [GgmlType.Q8_K]: [256, 4 + QK_K + QK_K / 8],
  [GgmlType.IQ2_XXS]: [256, 2 + QK_K / 4],
  [GgmlType.IQ2_XS]: [256, 2 + QK_K / 4 + QK_K / 32],
  [GgmlType.IQ3_XXS]: [256, 2 + QK_K / 4 + QK_K / 8],
  [GgmlType.IQ1_S]: [256, 2 + QK_K / 8 + QK_K / 16],
  [GgmlType.IQ4_NL]: [32, 2 + 16],
  [GgmlType.IQ3_S]: [256, 2 + QK_K / 4 + QK_K / 8 + QK_K / 32 + 4],
  [GgmlType.IQ2_S]: [256, 2 + QK_K / 4 + QK_K / 16],
  [GgmlType.IQ4_XS]: [256, 2 + 2 + QK_K / 2 + QK_K / 64],
  [GgmlType.I8]: [1, 1],
  [GgmlType.I16]: [1, 2],
  [GgmlType.I32]: [1, 4],
  [GgmlType.I64]: [1, 8],
  [GgmlType.F64]: [1, 8],
  [GgmlType.IQ1_M]: [256, QK_K / 8 + QK_K / 16 + QK_K / 32],
  [GgmlType.BF16]: [1, 2],
  [GgmlType.TQ1_0]: [256, 2 + 4 * 13],
  [GgmlType.TQ2_0]: [256, 2 + 64],
  [GgmlType.MXFP4]: [32, 1 + 16],
};

/** Types whose data the writer can produce from float32 values. */
export type FloatGgmlType = GgmlType.F32 | GgmlType.F16 | GgmlType.BF16;

export const GGUF_MAGIC = 0x46554747; // "GGUF" little-endian
const GGUF_VERSION = 3;
const GGUF_DEFAULT_ALIGNMENT = 32;
const GGUF_KEY_ALIGNMENT = "general.alignment";
/** ggml's GGML_MAX_NAME is 64 including the terminating NUL. */
const GGML_MAX_NAME = 63;
const GGML_MAX_DIMS = 4;

// ---------------------------------------------------------------------------------------------
// Metadata values

type Scalar = number | bigint | boolean | string;
export type GgufArrayItemType = Exclude<GgufValueType, GgufValueType.ARRAY>;

/** One metadata value, tagged with its GGUF type. Build with the `gguf.*` helpers. */
export type GgufValue =
  | { readonly type: Exclude<GgufArrayItemType, GgufValueType.BOOL | GgufValueType.STRING>; readonly value: number | bigint }
  | { readonly type: GgufValueType.BOOL; readonly value: boolean }
  | { readonly type: GgufValueType.STRING; readonly value: string }
  | {
      readonly type: GgufValueType.ARRAY;
      readonly itemType: GgufArrayItemType;
      readonly value: ArrayLike<Scalar>;
    };

/** Constructors for typed metadata values. */
export const gguf = {
  u8: (v: number): GgufValue => ({ type: GgufValueType.UINT8, value: v }),
  i8: (v: number): GgufValue => ({ type: GgufValueType.INT8, value: v }),
  u16: (v: number): GgufValue => ({ type: GgufValueType.UINT16, value: v }),
  i16: (v: number): GgufValue => ({ type: GgufValueType.INT16, value: v }),
  u32: (v: number): GgufValue => ({ type: GgufValueType.UINT32, value: v }),
  i32: (v: number): GgufValue => ({ type: GgufValueType.INT32, value: v }),
  u64: (v: number | bigint): GgufValue => ({ type: GgufValueType.UINT64, value: v }),
  i64: (v: number | bigint): GgufValue => ({ type: GgufValueType.INT64, value: v }),
  f32: (v: number): GgufValue => ({ type: GgufValueType.FLOAT32, value: v }),
  f64: (v: number): GgufValue => ({ type: GgufValueType.FLOAT64, value: v }),
  bool: (v: boolean): GgufValue => ({ type: GgufValueType.BOOL, value: v }),
  str: (v: string): GgufValue => ({ type: GgufValueType.STRING, value: v }),
  /** An array of `itemType` values (typed arrays are accepted for numeric items). */
  arr: (itemType: GgufArrayItemType, values: ArrayLike<Scalar>): GgufValue => ({ type: GgufValueType.ARRAY, itemType, value: values }),
  strArr: (values: readonly string[]): GgufValue => gguf.arr(GgufValueType.STRING, values),
  i32Arr: (values: ArrayLike<number>): GgufValue => gguf.arr(GgufValueType.INT32, values),
  u32Arr: (values: ArrayLike<number>): GgufValue => gguf.arr(GgufValueType.UINT32, values),
  f32Arr: (values: ArrayLike<number>): GgufValue => gguf.arr(GgufValueType.FLOAT32, values),
};

// ---------------------------------------------------------------------------------------------
// Tensors

type MaybeAsyncIterable<T> = Iterable<T> | AsyncIterable<T>;

/**
 * Where a tensor's data comes from, in ggml element order (innermost dimension fastest):
 * - `Float32Array`: all values at once, converted to the tensor's type (F32/F16/BF16 only);
 * - `{ f32: () => chunks }`: float32 chunks of any size, converted the same way; called once, when the
 *   writer reaches the tensor, so the values can be produced lazily; a source may reuse its chunk
 *   buffer, since the writer has encoded a chunk before it asks for the next one;
 * - `{ raw: () => chunks }`: bytes already encoded in the tensor's type (any type, e.g. BF16 straight
 *   from safetensors, or quantized blocks); the byte count must equal the tensor's size.
 */
export type TensorSource =
  | Float32Array
  | { readonly f32: () => MaybeAsyncIterable<Float32Array> }
  | { readonly raw: () => MaybeAsyncIterable<Uint8Array> };

export interface TensorDeclaration {
  /** GGUF tensor name, e.g. `blk.0.attn_q.weight` (at most 63 bytes). */
  readonly name: string;
  /** ggml shape `ne`, innermost (contiguous) dimension first; 1 to 4 dimensions. */
  readonly shape: readonly number[];
  readonly type: GgmlType;
  readonly data: TensorSource;
}

/** Number of elements of a ggml shape. */
export function shapeElements(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Bytes of tensor data for `shape` in `type` (without alignment padding). */
export function tensorByteSize(type: GgmlType, shape: readonly number[]): number {
  const sizes = TYPE_SIZES[type];
  if (!sizes) throw new Error(`unknown ggml type ${type}`);
  const [blck, bytes] = sizes;
  const ne0 = shape[0] ?? 1;
  if (ne0 % blck !== 0) throw new Error(`row size ${ne0} is not a multiple of the ${GgmlType[type]} block size ${blck}`);
  return (shapeElements(shape) / blck) * bytes;
}

const pad = (n: number, align: number): number => Math.ceil(n / align) * align;

// ---------------------------------------------------------------------------------------------
// Float conversions (round to nearest even, like ggml's reference conversions)

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

/** IEEE half from a float32 bit pattern, round-to-nearest-even; NaN stays NaN, overflow → ±inf. */
function halfFromBits(x: number): number {
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant !== 0 ? 0x200 | (mant >>> 13) : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign; // underflows to ±0
    mant |= 0x800000;
    const shift = 14 - e;
    let h = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && (h & 1) !== 0)) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (h & 1) !== 0)) h++; // may carry into the exponent: correct
  return sign | h;
}

/** float32 → IEEE binary16 (round to nearest even). */
export function f32ToF16(v: number): number {
  f32Scratch[0] = v;
  return halfFromBits(u32Scratch[0]!);
}

/** float32 → bfloat16 (round to nearest even; NaN kept quiet), as ggml's `ggml_compute_fp32_to_bf16`. */
function bf16FromBits(u: number): number {
  if ((u & 0x7fffffff) > 0x7f800000) return ((u >>> 16) | 64) & 0xffff;
  return ((u + (0x7fff + ((u >>> 16) & 1))) >>> 16) & 0xffff;
}
export function f32ToBf16(v: number): number {
  f32Scratch[0] = v;
  return bf16FromBits(u32Scratch[0]!);
}

/** Encodes float32 values as `type` into `out` (which must hold `src.length * bytesPerElement`). */
function encodeFloats(type: FloatGgmlType, src: Float32Array, out: Uint8Array): void {
  if (type === GgmlType.F32) {
    out.set(new Uint8Array(src.buffer, src.byteOffset, src.byteLength));
    return;
  }
  if (out.byteOffset % 2 !== 0) {
    // Only with an odd custom alignment: encode aside, then copy.
    const tmp = new Uint8Array(src.length * 2);
    encodeFloats(type, src, tmp);
    out.set(tmp);
    return;
  }
  const bits = new Uint32Array(src.buffer, src.byteOffset, src.length);
  const dst = new Uint16Array(out.buffer, out.byteOffset, src.length);
  if (type === GgmlType.F16) for (let i = 0; i < bits.length; i++) dst[i] = halfFromBits(bits[i]!);
  else for (let i = 0; i < bits.length; i++) dst[i] = bf16FromBits(bits[i]!);
}

// ---------------------------------------------------------------------------------------------
// Buffered output

/**
 * Little-endian byte sink over a file handle with a large write buffer. Bytes reach the file in
 * multiples of 8 (except at the end), so a buffer position is congruent to its file offset mod 8 and
 * typed-array views of reserved space are aligned whenever the file offset is.
 */
class ByteSink {
  private buf: Buffer;
  private pos = 0;
  written = 0;
  constructor(
    private readonly fh: FileHandle,
    size = 8 << 20,
  ) {
    this.buf = Buffer.alloc(size);
  }
  /** Writes the buffer out, keeping back `pos % 8` bytes unless `all`. */
  private async drain(all: boolean): Promise<void> {
    const n = all ? this.pos : this.pos & ~7;
    let off = 0;
    while (off < n) {
      const { bytesWritten } = await this.fh.write(this.buf, off, n - off);
      off += bytesWritten;
    }
    this.buf.copyWithin(0, n, this.pos);
    this.pos -= n;
  }
  private async ensure(n: number): Promise<void> {
    if (this.pos + n <= this.buf.length) return;
    await this.drain(false);
    if (this.pos + n > this.buf.length) {
      const bigger = Buffer.alloc(pad(this.pos + n, 8));
      this.buf.copy(bigger, 0, 0, this.pos);
      this.buf = bigger;
    }
  }
  async flush(): Promise<void> {
    await this.drain(true);
  }
  async bytes(b: Uint8Array): Promise<void> {
    let off = 0;
    while (off < b.length) {
      if (this.pos === this.buf.length) await this.drain(false);
      const n = Math.min(this.buf.length - this.pos, b.length - off);
      this.buf.set(b.subarray(off, off + n), this.pos);
      this.pos += n;
      off += n;
    }
    this.written += b.length;
  }
  /** Reserves `n` bytes in the buffer and returns a view to fill (n must fit the buffer). */
  async reserve(n: number): Promise<Uint8Array> {
    await this.ensure(n);
    const view = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    this.written += n;
    return view;
  }
  get capacity(): number {
    return this.buf.length;
  }
  async zeros(n: number): Promise<void> {
    if (n > 0) (await this.reserve(n)).fill(0);
  }
  async u32(v: number) {
    const b = await this.reserve(4);
    new DataView(b.buffer, b.byteOffset, 4).setUint32(0, v, true);
  }
  async u64(v: number | bigint) {
    const b = await this.reserve(8);
    new DataView(b.buffer, b.byteOffset, 8).setBigUint64(0, BigInt(v), true);
  }
  async string(s: string): Promise<void> {
    const bytes = Buffer.from(s, "utf8");
    await this.u64(bytes.length);
    await this.bytes(bytes);
  }
}

/** Growable in-memory little-endian encoder for metadata (synchronous: big arrays stay fast). */
class MetaEncoder {
  private buf = Buffer.alloc(1 << 16);
  private dv = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.length);
  pos = 0;
  private room(n: number): number {
    if (this.pos + n > this.buf.length) {
      const bigger = Buffer.alloc(Math.max(this.buf.length * 2, this.pos + n));
      this.buf.copy(bigger, 0, 0, this.pos);
      this.buf = bigger;
      this.dv = new DataView(bigger.buffer, bigger.byteOffset, bigger.length);
    }
    const at = this.pos;
    this.pos += n;
    return at;
  }
  u32(v: number): void {
    const at = this.room(4);
    this.dv.setUint32(at, v, true);
  }
  u64(v: number): void {
    const at = this.room(8);
    this.dv.setBigUint64(at, BigInt(v), true);
  }
  string(s: string): void {
    const n = Buffer.byteLength(s, "utf8");
    this.u64(n);
    const at = this.room(n);
    this.buf.write(s, at, n, "utf8");
  }
  scalar(type: GgufArrayItemType, v: Scalar, key: string): void {
    const fail = () => new Error(`metadata ${key}: value ${String(v)} does not fit GGUF type ${GgufValueType[type]}`);
    if (type === GgufValueType.STRING) {
      if (typeof v !== "string") throw fail();
      this.string(v);
      return;
    }
    if (type === GgufValueType.BOOL) {
      if (typeof v !== "boolean") throw fail();
      const at = this.room(1);
      this.dv.setUint8(at, v ? 1 : 0);
      return;
    }
    if (typeof v !== "number" && typeof v !== "bigint") throw fail();
    const int = (lo: number, hi: number) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < lo || n > hi) throw fail();
      return n;
    };
    switch (type) {
      case GgufValueType.UINT8: {
        const x = int(0, 0xff);
        const at = this.room(1);
        this.dv.setUint8(at, x);
        break;
      }
      case GgufValueType.INT8: {
        const x = int(-0x80, 0x7f);
        const at = this.room(1);
        this.dv.setInt8(at, x);
        break;
      }
      case GgufValueType.UINT16: {
        const x = int(0, 0xffff);
        const at = this.room(2);
        this.dv.setUint16(at, x, true);
        break;
      }
      case GgufValueType.INT16: {
        const x = int(-0x8000, 0x7fff);
        const at = this.room(2);
        this.dv.setInt16(at, x, true);
        break;
      }
      case GgufValueType.UINT32: {
        const x = int(0, 0xffffffff);
        const at = this.room(4);
        this.dv.setUint32(at, x, true);
        break;
      }
      case GgufValueType.INT32: {
        const x = int(-0x80000000, 0x7fffffff);
        const at = this.room(4);
        this.dv.setInt32(at, x, true);
        break;
      }
      case GgufValueType.FLOAT32: {
        const at = this.room(4);
        this.dv.setFloat32(at, Number(v), true);
        break;
      }
      case GgufValueType.FLOAT64: {
        const at = this.room(8);
        this.dv.setFloat64(at, Number(v), true);
        break;
      }
      case GgufValueType.UINT64: {
        const n = typeof v === "bigint" ? v : BigInt(int(0, Number.MAX_SAFE_INTEGER));
        if (n < 0n || n > 0xffffffffffffffffn) throw fail();
        const at = this.room(8);
        this.dv.setBigUint64(at, n, true);
        break;
      }
      case GgufValueType.INT64: {
        const n = typeof v === "bigint" ? v : BigInt(int(Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER));
        if (n < -0x8000000000000000n || n > 0x7fffffffffffffffn) throw fail();
        const at = this.room(8);
        this.dv.setBigInt64(at, n, true);
        break;
      }
      default:
        throw fail();
    }
  }
  /** One kv: key string, type, value. */
  kv(key: string, v: GgufValue): void {
    this.string(key);
    this.u32(v.type);
    if (v.type !== GgufValueType.ARRAY) {
      this.scalar(v.type, v.value, key);
      return;
    }
    this.u32(v.itemType);
    this.u64(v.value.length);
    for (let i = 0; i < v.value.length; i++) this.scalar(v.itemType, v.value[i]!, key);
  }
  take(): Uint8Array {
    const out = this.buf.subarray(0, this.pos);
    this.buf = Buffer.alloc(1 << 16);
    this.dv = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.length);
    this.pos = 0;
    return out;
  }
}

// ---------------------------------------------------------------------------------------------
// The writer

export interface GgufWriterOptions {
  /** Data alignment; written as `general.alignment` when not the default. Defaults to the value of a
   * `general.alignment` kv set on the writer, else 32. Must be a power of two. */
  readonly alignment?: number;
}

export interface GgufWriteResult {
  readonly path: string;
  /** File size in bytes. */
  readonly bytes: number;
  readonly tensorCount: number;
  /** Total number of tensor elements (parameters). */
  readonly elements: number;
}

interface TensorEntry extends TensorDeclaration {
  readonly bytes: number;
  readonly offset: number;
}

/**
 * Collects metadata and tensor declarations, then `write()`s them to `outPath`.
 *
 * ```ts
 * const w = new GgufWriter("model.gguf");
 * w.set("general.architecture", gguf.str("llama4"));
 * w.addTensor({ name: "output_norm.weight", shape: [64], type: GgmlType.F32, data: new Float32Array(64).fill(1) });
 * await w.write();
 * ```
 */
export class GgufWriter {
  readonly #kvs = new Map<string, GgufValue>();
  readonly #tensors: TensorDeclaration[] = [];
  readonly #names = new Set<string>();
  #written = false;

  constructor(
    readonly outPath: string,
    private readonly options: GgufWriterOptions = {},
  ) {
    if (options.alignment !== undefined) {
      checkAlignment(options.alignment);
      if (options.alignment !== GGUF_DEFAULT_ALIGNMENT) this.set(GGUF_KEY_ALIGNMENT, gguf.u32(options.alignment));
    }
  }

  /** Adds a metadata key (kept in insertion order). Setting a key twice is an error. */
  set(key: string, value: GgufValue): this {
    if (this.#kvs.has(key)) throw new Error(`metadata key ${key} set twice`);
    if (key === GGUF_KEY_ALIGNMENT) {
      if (value.type !== GgufValueType.UINT32) throw new Error(`${GGUF_KEY_ALIGNMENT} must be a UINT32`);
      checkAlignment(Number(value.value));
      if (this.options.alignment !== undefined && this.options.alignment !== Number(value.value)) {
        throw new Error(`${GGUF_KEY_ALIGNMENT} ${String(value.value)} contradicts the writer option ${this.options.alignment}`);
      }
    }
    this.#kvs.set(key, value);
    return this;
  }

  has(key: string): boolean {
    return this.#kvs.has(key);
  }

  /** Declares a tensor; its data is read from `data` during `write()`, in declaration order. */
  addTensor(t: TensorDeclaration): this {
    if (Buffer.byteLength(t.name, "utf8") > GGML_MAX_NAME) throw new Error(`tensor name too long (max ${GGML_MAX_NAME} bytes): ${t.name}`);
    if (this.#names.has(t.name)) throw new Error(`tensor ${t.name} added twice`);
    if (t.shape.length < 1 || t.shape.length > GGML_MAX_DIMS || t.shape.some((d) => !Number.isSafeInteger(d) || d < 1)) {
      throw new Error(`tensor ${t.name}: invalid shape [${t.shape.join(", ")}] (1 to ${GGML_MAX_DIMS} positive dims)`);
    }
    tensorByteSize(t.type, t.shape); // validates type and row size
    if (!("raw" in t.data) && t.type !== GgmlType.F32 && t.type !== GgmlType.F16 && t.type !== GgmlType.BF16) {
      throw new Error(`tensor ${t.name}: float32 data can only be encoded as F32, F16 or BF16, not ${GgmlType[t.type]}`);
    }
    if (t.data instanceof Float32Array && t.data.length !== shapeElements(t.shape)) {
      throw new Error(`tensor ${t.name}: ${t.data.length} values for shape [${t.shape.join(", ")}]`);
    }
    this.#names.add(t.name);
    this.#tensors.push(t);
    return this;
  }

  get alignment(): number {
    const kv = this.#kvs.get(GGUF_KEY_ALIGNMENT);
    return kv ? Number(kv.value) : GGUF_DEFAULT_ALIGNMENT;
  }

  /** Writes the file (temp file + rename). Can be called once. */
  async write(): Promise<GgufWriteResult> {
    if (this.#written) throw new Error("GgufWriter.write() called twice");
    this.#written = true;
    const align = this.alignment;
    let offset = 0;
    const entries: TensorEntry[] = this.#tensors.map((t) => {
      const bytes = tensorByteSize(t.type, t.shape);
      const e = { ...t, bytes, offset };
      offset += pad(bytes, align);
      return e;
    });

    await mkdir(dirname(this.outPath), { recursive: true });
    const tmp = join(dirname(this.outPath), `.${basename(this.outPath)}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`);
    const fh = await open(tmp, "w");
    let ok = false;
    try {
      const sink = new ByteSink(fh);
      await sink.u32(GGUF_MAGIC);
      await sink.u32(GGUF_VERSION);
      await sink.u64(entries.length);
      await sink.u64(this.#kvs.size);
      const enc = new MetaEncoder();
      for (const [key, value] of this.#kvs) {
        enc.kv(key, value);
        await sink.bytes(enc.take());
      }
      for (const e of entries) {
        await sink.string(e.name);
        await sink.u32(e.shape.length);
        for (const d of e.shape) await sink.u64(d);
        await sink.u32(e.type);
        await sink.u64(e.offset);
      }
      await sink.zeros(pad(sink.written, align) - sink.written);
      const dataStart = sink.written;
      let elements = 0;
      for (const e of entries) {
        if (sink.written - dataStart !== e.offset)
          throw new Error(`internal: tensor ${e.name} at ${sink.written - dataStart}, expected ${e.offset}`);
        await writeTensorData(sink, e);
        await sink.zeros(pad(e.bytes, align) - e.bytes);
        elements += shapeElements(e.shape);
      }
      await sink.flush();
      await fh.sync();
      await fh.close();
      await rename(tmp, this.outPath);
      ok = true;
      return { path: this.outPath, bytes: sink.written, tensorCount: entries.length, elements };
    } finally {
      if (!ok) {
        await fh.close().catch(() => {});
        await unlink(tmp).catch(() => {});
      }
    }
  }
}

function checkAlignment(a: number): void {
  if (!Number.isInteger(a) || a <= 0 || (a & (a - 1)) !== 0 || a > 0x7fffffff) throw new Error(`GGUF alignment ${a} is not a power of two`);
}

async function writeTensorData(sink: ByteSink, e: TensorEntry): Promise<void> {
  const src = e.data;
  let n = 0;
  if ("raw" in src) {
    for await (const chunk of src.raw()) {
      n += chunk.length;
      if (n > e.bytes) break;
      await sink.bytes(chunk);
    }
    if (n !== e.bytes)
      throw new Error(`tensor ${e.name}: source gave ${n > e.bytes ? "more than" : "only"} ${n} bytes, expected ${e.bytes}`);
    return;
  }
  const type = e.type as FloatGgmlType;
  const per = TYPE_SIZES[type][1];
  const expected = shapeElements(e.shape);
  const chunks: MaybeAsyncIterable<Float32Array> = src instanceof Float32Array ? [src] : src.f32();
  // Encode straight into the sink's buffer, in slices that fit it.
  const maxSlice = Math.floor(sink.capacity / 2 / per);
  for await (const chunk of chunks) {
    if (n + chunk.length > expected) throw new Error(`tensor ${e.name}: source gave more than ${expected} values`);
    for (let i = 0; i < chunk.length; i += maxSlice) {
      const part = chunk.subarray(i, Math.min(chunk.length, i + maxSlice));
      encodeFloats(type, part, await sink.reserve(part.length * per));
    }
    n += chunk.length;
  }
  if (n !== expected) throw new Error(`tensor ${e.name}: source gave ${n} values, expected ${expected}`);
}
