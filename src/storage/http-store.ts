/**
 * A read-only BlobStore over HTTP(S) for sources whose file list is known up front (the Hugging
 * Face Hub: `/api/models/…` lists files with sizes and LFS hashes). Blobs are fetched with ranged
 * GETs (redirects followed, e.g. to the Hub's CDN), so `downloadBlob` gives parallel, resumable,
 * verified downloads for free.
 * @module
 */
import { Readable } from "node:stream";
import type { ReadableStream as WebReadableStream } from "node:stream/web";
import { BlobNotFoundError, StorageError, type BlobInfo, type BlobStore, type ByteRange } from "./blob-store.js";

export interface HttpFile {
  readonly key: string;
  readonly bytes: number;
  /** Version tag (commit + LFS hash). */
  readonly etag: string;
  readonly sha256?: string;
}

export interface HttpStoreOptions {
  /** The blob's URL. */
  readonly urlOf: (key: string) => string;
  readonly files: readonly HttpFile[];
  readonly headers?: Readonly<Record<string, string>>;
  /** Shown in messages. */
  readonly location: string;
  /** Extra advice for 401/403 answers (e.g. how to pass a token). */
  readonly authHint?: string;
}

async function* sliceStream(body: Readable, start: number, end: number): AsyncGenerator<Buffer> {
  let pos = 0;
  for await (const c of body) {
    const b = c as Buffer;
    const from = Math.max(0, start - pos);
    const to = Math.min(b.length, end - pos);
    if (to > from) yield b.subarray(from, to);
    pos += b.length;
    if (pos >= end) {
      body.destroy();
      return;
    }
  }
}

export class HttpBlobStore implements BlobStore {
  readonly #files: Map<string, HttpFile>;
  constructor(private readonly opts: HttpStoreOptions) {
    this.#files = new Map(opts.files.map((f) => [f.key, f]));
  }

  get location(): string {
    return this.opts.location;
  }

  async head(key: string): Promise<BlobInfo | null> {
    const f = this.#files.get(key);
    return f ? { key, bytes: f.bytes, etag: f.etag, metadata: f.sha256 ? { sha256: f.sha256 } : {} } : null;
  }

  async list(prefix = ""): Promise<BlobInfo[]> {
    const out: BlobInfo[] = [];
    for (const f of this.#files.values()) if (f.key.startsWith(prefix)) out.push((await this.head(f.key))!);
    return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  async getStream(key: string, range?: ByteRange, signal?: AbortSignal): Promise<Readable> {
    if (!this.#files.has(key)) throw new BlobNotFoundError(this.location, key);
    if (range && range.end <= range.start) return Readable.from([]);
    const url = this.opts.urlOf(key);
    let res: Response;
    try {
      res = await fetch(url, {
        headers: { ...this.opts.headers, ...(range ? { range: `bytes=${range.start}-${range.end - 1}` } : {}) },
        redirect: "follow",
        signal,
      });
    } catch (err) {
      if (signal?.aborted) throw err;
      throw new StorageError(`cannot fetch ${url}: ${(err as Error).message}`, { cause: err });
    }
    if (res.status === 401 || res.status === 403) {
      await res.body?.cancel();
      throw new StorageError(`${url}: HTTP ${res.status} (not authorized)${this.opts.authHint ? `: ${this.opts.authHint}` : ""}`);
    }
    if (res.status === 404) {
      await res.body?.cancel();
      throw new BlobNotFoundError(this.location, key);
    }
    if (res.status !== 200 && !(range && res.status === 206)) {
      await res.body?.cancel();
      throw new StorageError(`${url}: HTTP ${res.status}`);
    }
    if (!res.body) return Readable.from([]);
    const body = Readable.fromWeb(res.body as unknown as WebReadableStream<Uint8Array>);
    // A server that ignores Range answers 200 with the whole file: cut the range out of it.
    return range && res.status === 200 ? Readable.from(sliceStream(body, range.start, range.end)) : body;
  }

  #readOnly(): never {
    throw new StorageError(`${this.location} is read-only`);
  }
  async putBytes(): Promise<void> {
    this.#readOnly();
  }
  async putFile(): Promise<void> {
    this.#readOnly();
  }
  async delete(): Promise<void> {
    this.#readOnly();
  }
  async close(): Promise<void> {}
}
