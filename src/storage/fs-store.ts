/**
 * BlobStore over a local folder (or a shared filesystem such as EFS). Writes go to a temp file in
 * the destination folder and are renamed into place, so readers never see partial blobs; user
 * metadata lives in a `.<name>.meta.json` sidecar.
 * @module
 */
import { randomBytes } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { mkdir, readdir, readFile, rename, stat, unlink, writeFile } from "node:fs/promises";
import { basename, dirname, join, relative, resolve } from "node:path";
import { Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { BlobNotFoundError, checkKey, type BlobInfo, type BlobStore, type ByteRange, type PutOptions } from "./blob-store.js";

const metaPath = (p: string) => join(dirname(p), `.${basename(p)}.meta.json`);
const isHidden = (name: string) => name.startsWith(".");

export class FsBlobStore implements BlobStore {
  readonly root: string;
  constructor(root: string) {
    this.root = resolve(root);
  }

  get location(): string {
    return this.root;
  }

  #path(key: string): string {
    return join(this.root, ...checkKey(key).split("/"));
  }

  async head(key: string): Promise<BlobInfo | null> {
    const p = this.#path(key);
    let s: Awaited<ReturnType<typeof stat>>;
    try {
      s = await stat(p);
    } catch {
      return null;
    }
    if (!s.isFile()) return null;
    let metadata: Record<string, string> = {};
    try {
      metadata = JSON.parse(await readFile(metaPath(p), "utf8")) as Record<string, string>;
    } catch {
      /* no sidecar */
    }
    return { key, bytes: s.size, etag: `${s.size}-${Math.trunc(s.mtimeMs)}`, metadata };
  }

  async list(prefix = ""): Promise<BlobInfo[]> {
    const out: BlobInfo[] = [];
    const walk = async (dir: string): Promise<void> => {
      let names: string[];
      try {
        names = await readdir(dir);
      } catch {
        return;
      }
      for (const name of names) {
        if (isHidden(name)) continue;
        const p = join(dir, name);
        const s = await stat(p);
        if (s.isDirectory()) await walk(p);
        else if (s.isFile()) {
          const key = relative(this.root, p).split("\\").join("/");
          if (key.startsWith(prefix)) out.push((await this.head(key))!);
        }
      }
    };
    await walk(this.root);
    return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  async getStream(key: string, range?: ByteRange, signal?: AbortSignal): Promise<Readable> {
    const info = await this.head(key);
    if (!info) throw new BlobNotFoundError(this.location, key);
    if (range && (range.start < 0 || range.end > info.bytes || range.start > range.end))
      throw new RangeError(`range ${range.start}-${range.end} outside ${key} (${info.bytes} bytes)`);
    if (range && range.end === range.start) return Readable.from([]);
    return createReadStream(this.#path(key), {
      ...(range ? { start: range.start, end: range.end - 1 } : {}),
      highWaterMark: 1 << 20,
      signal,
    });
  }

  async #commit(p: string, write: (tmp: string) => Promise<void>, metadata?: Readonly<Record<string, string>>): Promise<void> {
    await mkdir(dirname(p), { recursive: true });
    const tmp = join(dirname(p), `.${basename(p)}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`);
    try {
      await write(tmp);
      if (metadata && Object.keys(metadata).length > 0) await writeFile(metaPath(p), JSON.stringify(metadata));
      else await unlink(metaPath(p)).catch(() => {});
      await rename(tmp, p);
    } catch (err) {
      await unlink(tmp).catch(() => {});
      throw err;
    }
  }

  async putBytes(key: string, data: Uint8Array, opts: PutOptions = {}): Promise<void> {
    await this.#commit(this.#path(key), (tmp) => writeFile(tmp, data, { signal: opts.signal }), opts.metadata);
    opts.onProgress?.(data.length);
  }

  async putFile(key: string, path: string, opts: PutOptions = {}): Promise<void> {
    const counter = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        opts.onProgress?.(chunk.length);
        cb(null, chunk);
      },
    });
    await this.#commit(
      this.#path(key),
      (tmp) => pipeline(createReadStream(path, { highWaterMark: 4 << 20 }), counter, createWriteStream(tmp), { signal: opts.signal }),
      opts.metadata,
    );
  }

  async delete(key: string): Promise<void> {
    const p = this.#path(key);
    await unlink(p).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== "ENOENT") throw err;
    });
    await unlink(metaPath(p)).catch(() => {});
  }

  async close(): Promise<void> {}
}
