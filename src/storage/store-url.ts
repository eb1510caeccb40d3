/**
 * Store locations (`/path/to/dir` or `s3://bucket/prefix`): parsing, joining and opening them. S3
 * client settings come from `s3-settings.ts`.
 * @module
 */
import { StorageError, type BlobStore } from "./blob-store.js";
import { FsBlobStore } from "./fs-store.js";
import type { S3Settings } from "./s3-settings.js";
import { S3BlobStore } from "./s3-store.js";

export { resolveS3Settings, type S3Flags, type S3Settings } from "./s3-settings.js";

export function isS3Url(location: string): boolean {
  return location.startsWith("s3://");
}

export function parseS3Url(url: string): { bucket: string; prefix: string } {
  const m = /^s3:\/\/([^/]+)\/?(.*)$/.exec(url);
  if (!m?.[1]) throw new StorageError(`not an S3 URL: ${JSON.stringify(url)} (expected s3://bucket/prefix)`);
  return { bucket: m[1], prefix: (m[2] ?? "").replace(/\/+$/, "") };
}

/** A BlobStore rooted at `location`: a local folder or `s3://bucket/prefix`. */
export function openBlobStore(location: string, s3: S3Settings = {}): BlobStore {
  if (isS3Url(location)) return new S3BlobStore({ ...s3, ...parseS3Url(location) });
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(location))
    throw new StorageError(`unsupported store URL ${location} (use a folder or s3://bucket/prefix)`);
  return new FsBlobStore(location);
}

/** `base` + `/` + `name` for either kind of location. */
export function joinStoreLocation(base: string, name: string): string {
  return `${base.replace(/\/+$/, "")}/${name}`;
}
