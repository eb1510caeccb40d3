/**
 * Publishing and fetching a set of files with known sizes and hashes (an artifact folder):
 *
 * - push: files already in the store with the same size and sha256 (user metadata) are skipped —
 *   an interrupted push resumes file by file; the index blob (the manifest) is deleted before any
 *   data changes and written last, so a reader that finds it finds complete data;
 * - pull: files already present locally with the right hash are kept; the rest are downloaded with
 *   `downloadBlob` (parallel ranges, resumable, sha256-checked before installation).
 * @module
 */
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import { join } from "node:path";
import { StorageError, joinLocation, type BlobStore } from "./blob-store.js";
import { downloadBlob, type DownloadOptions } from "./download.js";

export interface SyncFile {
  /** Relative path, also the blob key. */
  readonly path: string;
  readonly bytes: number;
  readonly sha256: string;
}

export interface SyncOptions {
  readonly onProgress?: (bytes: number) => void;
  /** Called when a file is skipped because it is already in place. */
  readonly onSkip?: (file: SyncFile) => void;
  readonly signal?: AbortSignal;
  readonly download?: Pick<DownloadOptions, "partBytes" | "concurrency">;
}

export interface SyncResult {
  readonly transferredBytes: number;
  readonly transferredFiles: string[];
  readonly skippedFiles: string[];
  /** Bytes kept from interrupted earlier pulls. */
  readonly resumedBytes: number;
}

async function sha256Local(path: string): Promise<string> {
  const h = createHash("sha256");
  for await (const c of createReadStream(path, { highWaterMark: 4 << 20 })) h.update(c as Buffer);
  return h.digest("hex");
}

/** Uploads `files` from `localDir`, then the index blob `index` (see the module doc). */
export async function pushFiles(
  localDir: string,
  store: BlobStore,
  files: readonly SyncFile[],
  index: { key: string; data: Uint8Array },
  opts: SyncOptions = {},
): Promise<SyncResult> {
  const todo: SyncFile[] = [];
  const skipped: string[] = [];
  for (const f of files) {
    const local = await stat(join(localDir, f.path)).catch(() => null);
    if (!local || local.size !== f.bytes)
      throw new StorageError(`${join(localDir, f.path)}: expected ${f.bytes} bytes, found ${local ? local.size : "no file"}`);
    const remote = await store.head(f.path);
    if (remote && remote.bytes === f.bytes && remote.metadata.sha256 === f.sha256) {
      skipped.push(f.path);
      opts.onSkip?.(f);
      opts.onProgress?.(f.bytes);
    } else todo.push(f);
  }
  const currentIndex = await store.head(index.key);
  const indexUnchanged =
    currentIndex !== null && currentIndex.bytes === index.data.length && currentIndex.metadata.sha256 === sha256Buf(index.data);
  if (todo.length > 0 || !indexUnchanged) await store.delete(index.key);
  let transferred = 0;
  for (const f of todo) {
    opts.signal?.throwIfAborted();
    await store.putFile(f.path, join(localDir, f.path), {
      metadata: { sha256: f.sha256 },
      signal: opts.signal,
      onProgress: (n) => {
        transferred += n;
        opts.onProgress?.(n);
      },
    });
    const after = await store.head(f.path);
    if (!after || after.bytes !== f.bytes)
      throw new StorageError(
        `${joinLocation(store.location, f.path)}: stored ${after?.bytes ?? "nothing"} bytes after upload, expected ${f.bytes}`,
      );
  }
  if (todo.length > 0 || !indexUnchanged)
    await store.putBytes(index.key, index.data, { metadata: { sha256: sha256Buf(index.data) }, signal: opts.signal });
  return { transferredBytes: transferred, transferredFiles: todo.map((f) => f.path), skippedFiles: skipped, resumedBytes: 0 };
}

function sha256Buf(data: Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

/** Downloads `files` into `localDir`, verifying every byte (see the module doc). */
export async function pullFiles(
  store: BlobStore,
  localDir: string,
  files: readonly SyncFile[],
  opts: SyncOptions = {},
): Promise<SyncResult> {
  const transferred: string[] = [];
  const skipped: string[] = [];
  let bytes = 0;
  let resumed = 0;
  for (const f of files) {
    opts.signal?.throwIfAborted();
    const dest = join(localDir, f.path);
    const local = await stat(dest).catch(() => null);
    if (local?.size === f.bytes && (await sha256Local(dest)) === f.sha256) {
      skipped.push(f.path);
      opts.onSkip?.(f);
      opts.onProgress?.(f.bytes);
      continue;
    }
    const r = await downloadBlob(store, f.path, dest, {
      ...opts.download,
      sha256: f.sha256,
      bytes: f.bytes,
      signal: opts.signal,
      onProgress: opts.onProgress,
    });
    bytes += r.downloadedBytes;
    resumed += r.resumedBytes;
    transferred.push(f.path);
  }
  return { transferredBytes: bytes, transferredFiles: transferred, skippedFiles: skipped, resumedBytes: resumed };
}
