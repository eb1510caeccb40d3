/**
 * BlobStore: the storage interface artifacts are published to and fetched from. Keys are
 * `/`-separated paths relative to the store's root (a local folder or an S3 bucket + prefix).
 * Implementations: `fs-store.ts` (local folder), `s3-store.ts` (S3 and S3-compatible stores).
 * Both pass the same contract suite (test/storage/blob-store-contract.ts).
 *
 * Large files move with `putFile` (multipart on S3) and `downloadBlob` (download.ts: parallel
 * ranged reads, resumable, checksum-verified) on top of `getStream(key, range)`.
 * @module
 */
import type { Readable } from "node:stream";

export interface BlobInfo {
  /** Key relative to the store root. */
  readonly key: string;
  readonly bytes: number;
  /** Opaque version tag (S3 ETag, fs size+mtime); changes when the content is replaced. */
  readonly etag: string;
  /** User metadata stored with the blob (herd stores `sha256`). */
  readonly metadata: Readonly<Record<string, string>>;
}

/** A byte range, `end` exclusive. */
export interface ByteRange {
  readonly start: number;
  readonly end: number;
}

export interface TransferOptions {
  /** Called with the number of bytes moved since the last call. */
  readonly onProgress?: (bytes: number) => void;
  readonly signal?: AbortSignal;
}

export interface PutOptions extends TransferOptions {
  readonly metadata?: Readonly<Record<string, string>>;
}

export interface BlobStore {
  /** Where the store points, for messages (`/data/artifacts`, `s3://bucket/prefix`). */
  readonly location: string;
  /** The blob's size and metadata, or null when there is none. */
  head(key: string): Promise<BlobInfo | null>;
  /** Every blob whose key starts with `prefix` (recursive), sorted by key. */
  list(prefix?: string): Promise<BlobInfo[]>;
  /** The blob's bytes (or `range` of them). Throws `BlobNotFoundError` when it does not exist. */
  getStream(key: string, range?: ByteRange, signal?: AbortSignal): Promise<Readable>;
  /** Stores a small blob from memory, replacing any blob with that key. */
  putBytes(key: string, data: Uint8Array, opts?: PutOptions): Promise<void>;
  /** Stores a local file (streamed; multipart on S3), replacing any blob with that key. */
  putFile(key: string, path: string, opts?: PutOptions): Promise<void>;
  /** Deletes a blob; deleting a missing blob is not an error. */
  delete(key: string): Promise<void>;
  /** Releases connections. */
  close(): Promise<void>;
}

export class StorageError extends Error {
  override readonly name: string = "StorageError";
}

export class BlobNotFoundError extends StorageError {
  override readonly name = "BlobNotFoundError";
  constructor(
    readonly location: string,
    readonly key: string,
  ) {
    super(`${joinLocation(location, key)} does not exist`);
  }
}

/** Downloaded bytes do not hash to what the manifest says. */
export class ChecksumMismatchError extends StorageError {
  override readonly name = "ChecksumMismatchError";
  constructor(
    readonly what: string,
    readonly expected: string,
    readonly actual: string,
  ) {
    super(
      `${what}: sha256 ${actual.slice(0, 12)}…, expected ${expected.slice(0, 12)}… — ` +
        `the stored copy is corrupt or was replaced; nothing was installed`,
    );
  }
}

/** `location` + `/` + `key`, for messages. */
export function joinLocation(location: string, key: string): string {
  return `${location.replace(/\/+$/, "")}/${key}`;
}

/** Rejects keys that could escape the store root. */
export function checkKey(key: string): string {
  if (key.length === 0 || key.startsWith("/") || key.split("/").some((p) => p === ".." || p === "." || p === "")) {
    throw new StorageError(`invalid blob key ${JSON.stringify(key)}`);
  }
  return key;
}
