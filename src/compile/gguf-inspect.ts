/**
 * Reads a GGUF file's header (metadata and tensor infos) and hashes tensor data — to verify
 * compiled artifacts against references and to describe them in the manifest. Only the header is
 * read into memory; tensor data is hashed in chunks.
 * @module
 */
import { createHash } from "node:crypto";
import { open, type FileHandle } from "node:fs/promises";
import { type GgmlType, GgufValueType, tensorByteSize, GGUF_MAGIC } from "../model/gguf/gguf-writer.js";

export type GgufMetaValue = number | bigint | boolean | string | GgufMetaValue[];

export interface GgufTensorInfo {
  readonly name: string;
  /** ggml `ne`, innermost first. */
  readonly shape: number[];
  readonly type: GgmlType;
  /** Absolute file offset of the data. */
  readonly offset: number;
  readonly bytes: number;
}

export interface GgufHeader {
  readonly version: number;
  readonly metadata: Map<string, GgufMetaValue>;
  readonly tensors: GgufTensorInfo[];
  readonly dataOffset: number;
}

class Reader {
  private buf = Buffer.alloc(0);
  private start = 0; // file offset of buf[0]
  pos = 0; // file offset
  constructor(
    private readonly fh: FileHandle,
    private readonly size: number,
  ) {}
  private async need(n: number): Promise<void> {
    if (this.pos + n <= this.start + this.buf.length) return;
    if (this.pos + n > this.size) throw new Error(`GGUF header runs past the end of the file (offset ${this.pos + n} > ${this.size})`);
    const want = Math.max(n, 1 << 20);
    const b = Buffer.alloc(Math.min(want, this.size - this.pos));
    const { bytesRead } = await this.fh.read(b, 0, b.length, this.pos);
    this.buf = b.subarray(0, bytesRead);
    this.start = this.pos;
    if (bytesRead < n) throw new Error("short read in GGUF header");
  }
  async u8(): Promise<number> {
    await this.need(1);
    return this.buf[this.pos++ - this.start]!;
  }
  async u32(): Promise<number> {
    await this.need(4);
    const v = this.buf.readUInt32LE(this.pos - this.start);
    this.pos += 4;
    return v;
  }
  async i32(): Promise<number> {
    await this.need(4);
    const v = this.buf.readInt32LE(this.pos - this.start);
    this.pos += 4;
    return v;
  }
  async u64(): Promise<bigint> {
    await this.need(8);
    const v = this.buf.readBigUInt64LE(this.pos - this.start);
    this.pos += 8;
    return v;
  }
  async i64(): Promise<bigint> {
    await this.need(8);
    const v = this.buf.readBigInt64LE(this.pos - this.start);
    this.pos += 8;
    return v;
  }
  async num(n: number, f: (b: Buffer, o: number) => number): Promise<number> {
    await this.need(n);
    const v = f(this.buf, this.pos - this.start);
    this.pos += n;
    return v;
  }
  async str(): Promise<string> {
    const n = Number(await this.u64());
    if (n > 1 << 30) throw new Error(`GGUF string of ${n} bytes`);
    await this.need(n);
    const s = this.buf.toString("utf8", this.pos - this.start, this.pos - this.start + n);
    this.pos += n;
    return s;
  }
}

async function readValue(r: Reader, type: GgufValueType): Promise<GgufMetaValue> {
  switch (type) {
    case GgufValueType.UINT8:
      return r.u8();
    case GgufValueType.INT8:
      return r.num(1, (b, o) => b.readInt8(o));
    case GgufValueType.UINT16:
      return r.num(2, (b, o) => b.readUInt16LE(o));
    case GgufValueType.INT16:
      return r.num(2, (b, o) => b.readInt16LE(o));
    case GgufValueType.UINT32:
      return r.u32();
    case GgufValueType.INT32:
      return r.i32();
    case GgufValueType.FLOAT32:
      return r.num(4, (b, o) => b.readFloatLE(o));
    case GgufValueType.FLOAT64:
      return r.num(8, (b, o) => b.readDoubleLE(o));
    case GgufValueType.BOOL:
      return (await r.u8()) !== 0;
    case GgufValueType.STRING:
      return r.str();
    case GgufValueType.UINT64:
      return r.u64();
    case GgufValueType.INT64:
      return r.i64();
    case GgufValueType.ARRAY: {
      const itemType = (await r.u32()) as GgufValueType;
      const n = Number(await r.u64());
      const out: GgufMetaValue[] = new Array(n);
      for (let i = 0; i < n; i++) out[i] = await readValue(r, itemType);
      return out;
    }
    default:
      throw new Error(`unknown GGUF value type ${type as number}`);
  }
}

/** Parses the header of GGUF file `path`. */
export async function readGgufHeader(path: string): Promise<GgufHeader> {
  const fh = await open(path, "r");
  try {
    const { size } = await fh.stat();
    const r = new Reader(fh, size);
    if ((await r.u32()) !== GGUF_MAGIC) throw new Error(`${path} is not a GGUF file (bad magic)`);
    const version = await r.u32();
    if (version < 2 || version > 3) throw new Error(`${path}: GGUF version ${version} not supported`);
    const nTensors = Number(await r.u64());
    const nKv = Number(await r.u64());
    const metadata = new Map<string, GgufMetaValue>();
    for (let i = 0; i < nKv; i++) {
      const key = await r.str();
      metadata.set(key, await readValue(r, (await r.u32()) as GgufValueType));
    }
    const raw: Array<{ name: string; shape: number[]; type: GgmlType; rel: number }> = [];
    for (let i = 0; i < nTensors; i++) {
      const name = await r.str();
      const nd = await r.u32();
      const shape: number[] = [];
      for (let d = 0; d < nd; d++) shape.push(Number(await r.u64()));
      const type = (await r.u32()) as GgmlType;
      raw.push({ name, shape, type, rel: Number(await r.u64()) });
    }
    const align = Number(metadata.get("general.alignment") ?? 32);
    const dataOffset = Math.ceil(r.pos / align) * align;
    const tensors = raw.map((t) => ({
      name: t.name,
      shape: t.shape,
      type: t.type,
      offset: dataOffset + t.rel,
      bytes: tensorByteSize(t.type, t.shape),
    }));
    for (const t of tensors)
      if (t.offset + t.bytes > size) throw new Error(`${path}: tensor ${t.name} lies past the end of the file (truncated?)`);
    return { version, metadata, tensors, dataOffset };
  } finally {
    await fh.close();
  }
}

/** sha256 (hex) of each tensor's data bytes, by name. */
export async function hashGgufTensors(path: string, header?: GgufHeader): Promise<Map<string, string>> {
  const h = header ?? (await readGgufHeader(path));
  const fh = await open(path, "r");
  const out = new Map<string, string>();
  const buf = Buffer.alloc(4 << 20);
  try {
    for (const t of h.tensors) {
      const hash = createHash("sha256");
      for (let off = 0; off < t.bytes; ) {
        const n = Math.min(buf.length, t.bytes - off);
        const { bytesRead } = await fh.read(buf, 0, n, t.offset + off);
        if (bytesRead === 0) throw new Error(`${path}: short read in tensor ${t.name}`);
        hash.update(buf.subarray(0, bytesRead));
        off += bytesRead;
      }
      out.set(t.name, hash.digest("hex"));
    }
  } finally {
    await fh.close();
  }
  return out;
}

/** A metadata value as JSON-friendly data (bigints as numbers when safe). */
export function metaToJson(v: GgufMetaValue): unknown {
  if (typeof v === "bigint") return Number.isSafeInteger(Number(v)) ? Number(v) : v.toString();
  if (Array.isArray(v)) return v.map(metaToJson);
  return v;
}
