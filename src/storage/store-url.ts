/**
 * Store locations (`/path/to/dir` or `s3://bucket/prefix`) and S3 client settings from flags and
 * the environment:
 *
 * | setting     | flag                     | environment (first set wins)                | default                                  |
 * |-------------|--------------------------|---------------------------------------------|------------------------------------------|
 * | endpoint    | `--s3-endpoint URL`      | `AWS_ENDPOINT_URL_S3`, `AWS_ENDPOINT_URL`   | AWS                                      |
 * | region      | `--s3-region R`          | `AWS_REGION`, `AWS_DEFAULT_REGION`          | `us-east-1`                              |
 * | path style  | `--s3-force-path-style`  | `HERD_S3_FORCE_PATH_STYLE` (1/true/0/false) | on with a custom endpoint, else off      |
 * | checksums   | `--s3-checksum MODE`     | `HERD_S3_CHECKSUM`                          | `when_required` with a custom endpoint, else `when_supported` |
 *
 * Credentials: `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` (/ `AWS_SESSION_TOKEN`) from the given
 * environment, else the AWS SDK's usual chain (`AWS_PROFILE`, web identity, instance/pod roles).
 * @module
 */
import { type EnvSource, getEnv } from "../config/env.js";
import { StorageError, type BlobStore } from "./blob-store.js";
import { FsBlobStore } from "./fs-store.js";
import { S3_CHECKSUM_MODES, S3BlobStore, type S3ChecksumMode, type S3StoreOptions } from "./s3-store.js";

export interface S3Flags {
  readonly endpoint?: string;
  readonly region?: string;
  readonly forcePathStyle?: boolean;
  readonly checksum?: string;
}

export type S3Settings = Omit<S3StoreOptions, "bucket" | "prefix">;

/** S3 client settings from flags, then `env`, then defaults (table above). */
export function resolveS3Settings(flags: S3Flags = {}, env: EnvSource = {}): S3Settings {
  const endpoint = flags.endpoint ?? getEnv("AWS_ENDPOINT_URL_S3", env) ?? getEnv("AWS_ENDPOINT_URL", env);
  const region = flags.region ?? getEnv("AWS_REGION", env) ?? getEnv("AWS_DEFAULT_REGION", env) ?? "us-east-1";
  const forcePathStyle = flags.forcePathStyle ?? getEnv("HERD_S3_FORCE_PATH_STYLE", env) ?? endpoint !== undefined;
  const checksum = flags.checksum ?? getEnv("HERD_S3_CHECKSUM", env) ?? (endpoint ? "when_required" : "when_supported");
  if (!(S3_CHECKSUM_MODES as readonly string[]).includes(checksum)) {
    throw new StorageError(`S3 checksum mode must be one of ${S3_CHECKSUM_MODES.join(", ")} (got ${JSON.stringify(checksum)})`);
  }
  // Keys from `env` are passed to the SDK explicitly: the SDK's own provider chain reads only the real environment.
  const accessKeyId = getEnv("AWS_ACCESS_KEY_ID", env);
  const secretAccessKey = getEnv("AWS_SECRET_ACCESS_KEY", env);
  const sessionToken = getEnv("AWS_SESSION_TOKEN", env);
  const credentials =
    accessKeyId && secretAccessKey ? { accessKeyId, secretAccessKey, ...(sessionToken ? { sessionToken } : {}) } : undefined;
  return {
    ...(endpoint ? { endpoint } : {}),
    region,
    forcePathStyle,
    checksum: checksum as S3ChecksumMode,
    ...(credentials ? { credentials } : {}),
  };
}

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
