/**
 * Reads the tokenizer keys of a GGUF (`tokenizer.ggml.model`, `tokenizer.ggml.pre`, and with `arrays`
 * `tokenizer.ggml.tokens` and `tokenizer.ggml.merges`) synchronously, skipping every other key without
 * decoding it. For the engine's own BPE of words too long for llama.cpp's pre-tokenizer. A generator
 * that yields every 16k strings decoded, so a caller can give the event loop a turn.
 * @module
 */
import { closeSync, fstatSync, openSync, readSync } from "node:fs";

export interface GgufTokenizerArrays {
  readonly model: string | null;
  readonly pre: string | null;
  readonly tokens: string[];
  readonly merges: string[];
}

const WANTED = new Set(["tokenizer.ggml.tokens", "tokenizer.ggml.merges", "tokenizer.ggml.model", "tokenizer.ggml.pre"]);
/** Byte sizes of the fixed-size GGUF value types (index = gguf_type); 8 = string, 9 = array. */
const FIXED_SIZE = [1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8];

class SyncReader {
  #buf = Buffer.alloc(0);
  #start = 0;
  pos = 0;
  constructor(
    private readonly fd: number,
    private readonly size: number,
  ) {}

  #need(n: number): void {
    if (this.pos + n <= this.#start + this.#buf.length) return;
    if (this.pos + n > this.size) throw new Error("GGUF metadata runs past the end of the file");
    const len = Math.min(Math.max(n, 4 << 20), this.size - this.pos);
    const b = Buffer.alloc(len);
    readSync(this.fd, b, 0, len, this.pos);
    this.#buf = b;
    this.#start = this.pos;
  }

  u32(): number {
    this.#need(4);
    const v = this.#buf.readUInt32LE(this.pos - this.#start);
    this.pos += 4;
    return v;
  }

  u64(): number {
    this.#need(8);
    const v = this.#buf.readBigUInt64LE(this.pos - this.#start);
    this.pos += 8;
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new Error("GGUF length out of range");
    return Number(v);
  }

  str(): string {
    const n = this.u64();
    this.#need(n);
    const s = this.#buf.toString("utf8", this.pos - this.#start, this.pos - this.#start + n);
    this.pos += n;
    return s;
  }

  skipStr(): void {
    const n = this.u64(); // not `this.pos += this.u64()`: that reads pos before u64() moves it
    this.pos += n;
  }

  skipValue(type: number): void {
    if (type === 8) this.skipStr();
    else if (type === 9) this.skipItems(this.u32(), this.u64());
    else this.pos += this.#fixed(type);
  }

  skipItems(itemType: number, count: number): void {
    if (itemType === 8) for (let i = 0; i < count; i++) this.skipStr();
    else if (itemType === 9) for (let i = 0; i < count; i++) this.skipValue(9);
    else this.pos += count * this.#fixed(itemType);
  }

  #fixed(type: number): number {
    const s = FIXED_SIZE[type];
    if (!s) throw new Error(`unknown GGUF value type ${type}`);
    return s;
  }
}

export function* readGgufTokenizer(path: string, arrays: boolean): Generator<undefined, GgufTokenizerArrays> {
  const fd = openSync(path, "r");
  try {
    const r = new SyncReader(fd, fstatSync(fd).size);
    if (r.u32() !== 0x46554747) throw new Error(`${path} is not a GGUF file`);
    r.u32(); // version
    r.u64(); // tensor count
    const nKv = r.u64();
    const out: { model: string | null; pre: string | null; tokens: string[]; merges: string[] } = {
      model: null,
      pre: null,
      tokens: [],
      merges: [],
    };
    for (let i = 0; i < nKv; i++) {
      const key = r.str();
      const type = r.u32();
      if (!WANTED.has(key) || (type === 9 && !arrays)) {
        r.skipValue(type);
        continue;
      }
      if (type === 8) {
        const s = r.str();
        if (key === "tokenizer.ggml.model") out.model = s;
        else if (key === "tokenizer.ggml.pre") out.pre = s;
        continue;
      }
      if (type !== 9) {
        r.skipValue(type);
        continue;
      }
      const itemType = r.u32();
      const count = r.u64();
      if (itemType !== 8) {
        r.skipItems(itemType, count);
        continue;
      }
      const list: string[] = new Array(count);
      for (let j = 0; j < count; j++) {
        list[j] = r.str();
        if ((j & 0x3fff) === 0) yield;
      }
      if (key === "tokenizer.ggml.tokens") out.tokens = list;
      else out.merges = list;
    }
    if (!arrays && out.model !== null && out.pre !== null) return out;
    return out;
  } finally {
    closeSync(fd);
  }
}
