/**
 * Streaming safetensors reader for Hugging Face checkpoints: one file, or shards listed by
 * `model.safetensors.index.json`.
 *
 * A safetensors file is an 8-byte little-endian header length N, N bytes of JSON
 * (`{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {...}}`, offsets relative to
 * the byte after the header), then the raw little-endian tensor bytes. Only the headers are parsed
 * when a checkpoint is opened; tensor bytes are read on demand with positional reads, in bounded
 * chunks, so the checkpoint is never held in memory (no mmap either: Node has none, and pread keeps
 * the page cache the only copy).
 * @module
 */
import { open, readFile, readdir, stat, type FileHandle } from "node:fs/promises";
import { join } from "node:path";
import { scratch } from "./buffer-pool.js";

/** Element types of safetensors the compiler converts. */
export type FloatDtype = "BF16" | "F16" | "F32";

const DTYPE_BYTES: Readonly<Record<string, number>> = {
  BOOL: 1,
  U8: 1,
  I8: 1,
  F8_E4M3: 1,
  F8_E5M2: 1,
  I16: 2,
  U16: 2,
  F16: 2,
  BF16: 2,
  I32: 4,
  U32: 4,
  F32: 4,
  I64: 8,
  U64: 8,
  F64: 8,
};

export function isFloatDtype(d: string): d is FloatDtype {
  return d === "BF16" || d === "F16" || d === "F32";
}

export function dtypeBytes(d: string): number {
  const n = DTYPE_BYTES[d];
  if (n === undefined) throw new Error(`unknown safetensors dtype ${d}`);
  return n;
}

export interface TensorInfo {
  readonly name: string;
  readonly dtype: string;
  /** Checkpoint (row-major, outermost first) shape. */
  readonly shape: readonly number[];
  /** File the bytes live in (absolute). */
  readonly file: string;
  /** Absolute byte offset of the first element in `file`. */
  readonly offset: number;
  readonly byteLength: number;
}

/** The largest header we accept (the format's own limit is 100 MB). */
const MAX_HEADER_BYTES = 100_000_000;

class SafetensorsError extends Error {
  override readonly name = "SafetensorsError";
}

/** Parses the header of one safetensors file; tensors are returned in header order. */
async function readSafetensorsHeader(
  file: string,
): Promise<{ tensors: TensorInfo[]; metadata: Record<string, string>; headerBytes: Buffer; fileBytes: number }> {
  const fh = await open(file, "r");
  try {
    const { size } = await fh.stat();
    if (size < 8) throw new SafetensorsError(`${file}: ${size} bytes, too short for a safetensors file`);
    const lenBuf = Buffer.alloc(8);
    await readExactly(fh, lenBuf, 0);
    const n = Number(lenBuf.readBigUInt64LE(0));
    if (n < 2 || n > MAX_HEADER_BYTES || 8 + n > size)
      throw new SafetensorsError(`${file}: header length ${n} is not plausible for a ${size}-byte file`);
    const headerBytes = Buffer.alloc(n);
    await readExactly(fh, headerBytes, 8);
    let header: Record<string, unknown>;
    try {
      header = JSON.parse(headerBytes.toString("utf8")) as Record<string, unknown>;
    } catch (err) {
      throw new SafetensorsError(`${file}: header is not valid JSON (${(err as Error).message})`);
    }
    const dataStart = 8 + n;
    const tensors: TensorInfo[] = [];
    let metadata: Record<string, string> = {};
    for (const [name, v] of Object.entries(header)) {
      if (name === "__metadata__") {
        metadata = (v ?? {}) as Record<string, string>;
        continue;
      }
      const e = v as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
      if (typeof e.dtype !== "string" || !Array.isArray(e.shape) || !Array.isArray(e.data_offsets) || e.data_offsets.length !== 2) {
        throw new SafetensorsError(`${file}: tensor ${name} has a malformed header entry`);
      }
      const shape = e.shape as number[];
      const [begin, end] = e.data_offsets as [number, number];
      if (!shape.every((d) => Number.isSafeInteger(d) && d >= 0) || !Number.isSafeInteger(begin) || !Number.isSafeInteger(end)) {
        throw new SafetensorsError(`${file}: tensor ${name} has a malformed shape or offsets`);
      }
      const expected = shape.reduce((a, b) => a * b, 1) * dtypeBytes(e.dtype);
      if (end - begin !== expected)
        throw new SafetensorsError(`${file}: tensor ${name} spans ${end - begin} bytes, ${e.dtype}[${shape.join(", ")}] needs ${expected}`);
      if (begin < 0 || dataStart + end > size)
        throw new SafetensorsError(`${file}: tensor ${name} lies outside the file (truncated download?)`);
      tensors.push({ name, dtype: e.dtype, shape, file, offset: dataStart + begin, byteLength: expected });
    }
    return { tensors, metadata, headerBytes, fileBytes: size };
  } finally {
    await fh.close();
  }
}

async function readExactly(fh: FileHandle, buf: Uint8Array, position: number): Promise<void> {
  let off = 0;
  while (off < buf.length) {
    const { bytesRead } = await fh.read(buf, off, buf.length - off, position + off);
    if (bytesRead === 0) throw new SafetensorsError(`unexpected end of file at byte ${position + off}`);
    off += bytesRead;
  }
}

/** One weight file of a checkpoint, as the compiler's fingerprint sees it. */
export interface WeightFile {
  /** Path relative to the checkpoint folder. */
  readonly path: string;
  readonly bytes: number;
  /** The header (tensor names, dtypes, shapes, offsets), verbatim. */
  readonly headerBytes: Buffer;
}

/**
 * All tensors of a checkpoint folder. With `model.safetensors.index.json`, the shards it names (in
 * sorted order) and a check that every tensor sits where the index says; otherwise every
 * `*.safetensors` file in the folder. Tensor names must be unique across shards.
 */
export class SafetensorsCheckpoint {
  readonly #tensors = new Map<string, TensorInfo>();
  readonly #handles = new Map<string, Promise<FileHandle>>();

  private constructor(
    readonly dir: string,
    readonly files: readonly WeightFile[],
    tensors: TensorInfo[],
  ) {
    for (const t of tensors) {
      if (this.#tensors.has(t.name)) throw new SafetensorsError(`tensor ${t.name} appears in more than one shard`);
      this.#tensors.set(t.name, t);
    }
  }

  static async open(dir: string): Promise<SafetensorsCheckpoint> {
    const indexPath = join(dir, "model.safetensors.index.json");
    let shardNames: string[];
    let weightMap: Record<string, string> | undefined;
    if (await isFile(indexPath)) {
      const index = JSON.parse(await readFile(indexPath, "utf8")) as { weight_map?: Record<string, string> };
      if (!index.weight_map || typeof index.weight_map !== "object") throw new SafetensorsError(`${indexPath}: no weight_map`);
      weightMap = index.weight_map;
      shardNames = [...new Set(Object.values(weightMap))].sort();
    } else {
      shardNames = (await readdir(dir)).filter((n) => n.endsWith(".safetensors")).sort();
      if (shardNames.length === 0) throw new SafetensorsError(`${dir}: no *.safetensors files and no model.safetensors.index.json`);
    }
    const files: WeightFile[] = [];
    const tensors: TensorInfo[] = [];
    for (const shard of shardNames) {
      const path = join(dir, shard);
      if (!(await isFile(path))) throw new SafetensorsError(`${dir}: shard ${shard} named by the index is missing`);
      const h = await readSafetensorsHeader(path);
      files.push({ path: shard, bytes: h.fileBytes, headerBytes: h.headerBytes });
      tensors.push(...h.tensors);
    }
    if (weightMap) {
      const where = new Map(tensors.map((t) => [t.name, t.file]));
      for (const [name, shard] of Object.entries(weightMap)) {
        const actual = where.get(name);
        if (actual === undefined) throw new SafetensorsError(`tensor ${name} is in the index (${shard}) but in no shard`);
        if (actual !== join(dir, shard)) throw new SafetensorsError(`tensor ${name}: the index says ${shard}, found in ${actual}`);
      }
    }
    return new SafetensorsCheckpoint(dir, files, tensors);
  }

  /** Tensors in shard order, header order within a shard. */
  get tensors(): IterableIterator<TensorInfo> {
    return this.#tensors.values();
  }

  get(name: string): TensorInfo | undefined {
    return this.#tensors.get(name);
  }

  require(name: string): TensorInfo {
    const t = this.#tensors.get(name);
    if (!t) throw new SafetensorsError(`checkpoint has no tensor ${name}`);
    return t;
  }

  /** Total bytes of tensor data. */
  get dataBytes(): number {
    let n = 0;
    for (const t of this.#tensors.values()) n += t.byteLength;
    return n;
  }

  #handle(file: string): Promise<FileHandle> {
    let h = this.#handles.get(file);
    if (!h) {
      h = open(file, "r");
      this.#handles.set(file, h);
    }
    return h;
  }

  /** Reads `length` bytes of `t` starting `start` bytes into it, into `into` (or a new buffer). */
  async read(t: TensorInfo, start: number, length: number, into?: Uint8Array): Promise<Uint8Array> {
    if (start < 0 || length < 0 || start + length > t.byteLength)
      throw new RangeError(`read of ${t.name} [${start}, ${start + length}) outside ${t.byteLength} bytes`);
    const buf = into ?? new Uint8Array(length);
    if (buf.length < length) throw new RangeError("read buffer too small");
    await readExactly(await this.#handle(t.file), buf.subarray(0, length), t.offset + start);
    return buf.subarray(0, length);
  }

  /**
   * The bytes of `t` in chunks of at most `chunkBytes` (a multiple of the element size). The next
   * chunk is read while the caller works on the current one (two buffers, reused): a chunk is
   * valid until the caller asks for the one after the next.
   */
  async *chunks(t: TensorInfo, chunkBytes = 8 << 20): AsyncGenerator<Uint8Array> {
    const el = dtypeBytes(t.dtype);
    const step = Math.max(el, Math.floor(chunkBytes / el) * el);
    const size = Math.min(step, t.byteLength);
    const bufs = [scratch.take(size), scratch.take(size)];
    const at = (off: number, i: number) => this.read(t, off, Math.min(step, t.byteLength - off), bufs[i % 2]);
    let pending = t.byteLength > 0 ? at(0, 0) : null;
    try {
      for (let off = 0, i = 0; pending; off += step, i++) {
        const cur = await pending;
        pending = off + step < t.byteLength ? at(off + step, i + 1) : null;
        yield cur;
      }
    } finally {
      await pending?.catch(() => {});
      for (const b of bufs) scratch.give(b);
    }
  }

  async close(): Promise<void> {
    const handles = [...this.#handles.values()];
    this.#handles.clear();
    await Promise.all(handles.map(async (h) => (await h).close().catch(() => {})));
  }
}

async function isFile(p: string): Promise<boolean> {
  try {
    return (await stat(p)).isFile();
  } catch {
    return false;
  }
}
