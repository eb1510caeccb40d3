/**
 * Resumable, parallel, verified download of one blob to a local file.
 *
 *   dest.part        the file being filled (pre-sized; parts written at their offsets)
 *   dest.part.json   which parts are complete, plus the blob's size and etag
 *
 * The blob is split into `partBytes` ranges fetched by `concurrency` workers. After every part the
 * state file is updated, so a killed process resumes with the parts it has (as long as the blob's
 * size and etag are unchanged; otherwise it starts over). When all parts are in, the file is hashed
 * and compared with the expected sha256 before it is renamed to `dest`: a corrupt or replaced blob is
 * never installed.
 * @module
 */
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { open, readFile, rename, stat, unlink, writeFile, mkdir } from "node:fs/promises";
import { dirname } from "node:path";
import {
  BlobNotFoundError,
  ChecksumMismatchError,
  StorageError,
  joinLocation,
  type BlobStore,
  type TransferOptions,
} from "./blob-store.js";
import { DEFAULT_DOWNLOAD_CONCURRENCY, DEFAULT_PART_BYTES } from "./s3-settings.js";

export interface DownloadOptions extends TransferOptions {
  /** Expected sha256 (hex) of the whole blob; checked before the file is installed. */
  readonly sha256?: string;
  /** Expected size; a different remote size is an error (the manifest and the store disagree). */
  readonly bytes?: number;
  /** Range size (default 16 MiB). */
  readonly partBytes?: number;
  /** Ranges in flight (default 4). */
  readonly concurrency?: number;
  /** Attempts per range before giving up (default 4). */
  readonly attempts?: number;
}

export interface DownloadResult {
  readonly bytes: number;
  /** Bytes fetched by this call. */
  readonly downloadedBytes: number;
  /** Bytes kept from an interrupted earlier attempt. */
  readonly resumedBytes: number;
}

interface State {
  readonly version: 1;
  readonly location: string;
  readonly key: string;
  readonly bytes: number;
  readonly etag: string;
  readonly partBytes: number;
  readonly done: number[];
}

async function loadState(path: string): Promise<State | null> {
  try {
    return JSON.parse(await readFile(path, "utf8")) as State;
  } catch {
    return null;
  }
}

async function sha256Of(path: string): Promise<string> {
  const h = createHash("sha256");
  for await (const chunk of createReadStream(path, { highWaterMark: 4 << 20 })) h.update(chunk as Buffer);
  return h.digest("hex");
}

/** Downloads `key` from `store` to `dest`; see the module doc. */
export async function downloadBlob(store: BlobStore, key: string, dest: string, opts: DownloadOptions = {}): Promise<DownloadResult> {
  const info = await store.head(key);
  const where = joinLocation(store.location, key);
  if (!info) throw new BlobNotFoundError(store.location, key);
  if (opts.bytes !== undefined && info.bytes !== opts.bytes) {
    throw new StorageError(
      `${where} has ${info.bytes} bytes, the manifest says ${opts.bytes}: the store holds a different or partial upload`,
    );
  }
  const partBytes = Math.max(1 << 16, opts.partBytes ?? DEFAULT_PART_BYTES);
  const partPath = `${dest}.part`;
  const statePath = `${dest}.part.json`;
  await mkdir(dirname(dest), { recursive: true });

  const prev = await loadState(statePath);
  const partSize = await stat(partPath).then(
    (s) => s.size,
    () => -1,
  );
  const resumable =
    prev !== null &&
    prev.location === store.location &&
    prev.key === key &&
    prev.bytes === info.bytes &&
    prev.etag === info.etag &&
    prev.partBytes === partBytes &&
    partSize === info.bytes;
  const done = new Set<number>(resumable ? prev.done : []);
  const nParts = Math.ceil(info.bytes / partBytes);
  const fh = await open(partPath, resumable ? "r+" : "w+");
  const hash = opts.sha256 !== undefined ? createHash("sha256") : null;
  let downloadedBytes = 0;
  let resumedBytes = 0;
  let hashedParts = 0;
  let hashing: Promise<void> = Promise.resolve();
  try {
    if (!resumable) await fh.truncate(info.bytes);
    for (const i of done) resumedBytes += Math.min(partBytes, info.bytes - i * partBytes);
    if (resumedBytes > 0) opts.onProgress?.(resumedBytes);
    const state = (): State => ({
      version: 1,
      location: store.location,
      key,
      bytes: info.bytes,
      etag: info.etag,
      partBytes,
      done: [...done].sort((a, b) => a - b),
    });
    const saveState = async () => {
      // Atomic: a process killed mid-write leaves the previous state, never half a file.
      await writeFile(`${statePath}.tmp`, JSON.stringify(state()));
      await rename(`${statePath}.tmp`, statePath);
    };
    await saveState();
    let saving: Promise<void> = Promise.resolve();
    // The hash follows the contiguous prefix of finished parts (read back from the page cache), so
    // it overlaps the download instead of re-reading the whole file at the end.
    const hashBuf = opts.sha256 !== undefined ? Buffer.alloc(Math.min(partBytes, Math.max(1, info.bytes))) : null;
    const advanceHash = () => {
      if (!hash || !hashBuf) return;
      hashing = hashing.then(async () => {
        while (hashedParts < nParts && done.has(hashedParts)) {
          const start = hashedParts * partBytes;
          const n = Math.min(partBytes, info.bytes - start);
          let off = 0;
          while (off < n) {
            const { bytesRead } = await fh.read(hashBuf, off, n - off, start + off);
            if (bytesRead === 0) throw new StorageError(`${partPath}: short read while hashing`);
            off += bytesRead;
          }
          hash.update(hashBuf.subarray(0, n));
          hashedParts++;
        }
      });
    };
    advanceHash();
    const pending = Array.from({ length: nParts }, (_, i) => i).filter((i) => !done.has(i));
    let next = 0;
    /** Fetches range `i` into `buf` (collected in memory, then one positional write). */
    const fetchPart = async (i: number, buf: Buffer): Promise<void> => {
      const start = i * partBytes;
      const end = Math.min(info.bytes, start + partBytes);
      const attempts = opts.attempts ?? 4;
      for (let attempt = 1; ; attempt++) {
        let got = 0;
        try {
          const stream = await store.getStream(key, { start, end }, opts.signal);
          for await (const chunk of stream) {
            const b = chunk as Buffer;
            if (got + b.length > end - start) throw new StorageError(`${where}: range ${start}-${end} returned too many bytes`);
            buf.set(b, got);
            got += b.length;
            downloadedBytes += b.length;
            opts.onProgress?.(b.length);
          }
          if (got !== end - start) throw new StorageError(`${where}: range ${start}-${end} ended after ${got} bytes`);
          let off = 0;
          while (off < got) off += (await fh.write(buf, off, got - off, start + off)).bytesWritten;
          return;
        } catch (err) {
          if (opts.signal?.aborted || attempt >= attempts || err instanceof BlobNotFoundError) throw err;
          opts.onProgress?.(-got); // this range starts over
          downloadedBytes -= got;
          await new Promise((r) => setTimeout(r, 200 * attempt));
        }
      }
    };
    const worker = async (): Promise<void> => {
      const buf = Buffer.allocUnsafe(Math.min(partBytes, Math.max(1, info.bytes)));
      while (next < pending.length) {
        opts.signal?.throwIfAborted();
        const i = pending[next++]!;
        await fetchPart(i, buf);
        done.add(i);
        // A part is recorded once its bytes are written (to the page cache: that survives a killed
        // process; after an OS crash the final sha256 check catches anything lost).
        saving = saving.then(saveState);
        await saving;
        advanceHash();
      }
    };
    await Promise.all(
      Array.from({ length: Math.min(opts.concurrency ?? DEFAULT_DOWNLOAD_CONCURRENCY, Math.max(1, pending.length)) }, worker),
    );
    advanceHash();
    await hashing;
  } finally {
    await hashing.catch(() => {});
    await fh.close();
  }
  if (opts.sha256 !== undefined && hash) {
    const actual = hashedParts === nParts ? hash.digest("hex") : await sha256Of(partPath);
    if (actual !== opts.sha256) {
      await unlink(partPath).catch(() => {});
      await unlink(statePath).catch(() => {});
      throw new ChecksumMismatchError(where, opts.sha256, actual);
    }
  }
  await rename(partPath, dest);
  await unlink(statePath).catch(() => {});
  return { bytes: info.bytes, downloadedBytes, resumedBytes };
}

/** Reads a small blob whole (manifests). */
export async function readBlob(store: BlobStore, key: string, signal?: AbortSignal): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of await store.getStream(key, undefined, signal)) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}
