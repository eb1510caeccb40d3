/**
 * S3 client settings from flags and the environment (a light module: `herd serve`'s option table
 * names its choices and defaults without loading the AWS SDK):
 *
 * | setting     | flag                     | environment (first set wins)                | default                                  |
 * |-------------|--------------------------|---------------------------------------------|------------------------------------------|
 * | endpoint    | `--s3-endpoint URL`      | `AWS_ENDPOINT_URL_S3`, `AWS_ENDPOINT_URL`   | AWS                                      |
 * | region      | `--s3-region R`          | `AWS_REGION`, `AWS_DEFAULT_REGION`          | `us-east-1`                              |
 * | path style  | `--s3-force-path-style`  | `HERD_S3_FORCE_PATH_STYLE` (1/true/0/false) | on with a custom endpoint, else off      |
 * | checksums   | `--s3-checksum MODE`     | `HERD_S3_CHECKSUM`                          | `when_required` with a custom endpoint,  |
 * |             |                          |                                             | else `when_supported`                    |
 *
 * Credentials: `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` (/ `AWS_SESSION_TOKEN`) from the given
 * environment, else the AWS SDK's usual chain (`AWS_PROFILE`, web identity, instance/pod roles).
 * `herd serve`'s option table (config/serve-config.ts) names the same variables; a test keeps them equal.
 * @module
 */
import { type EnvSource, getEnv } from "../config/env.js";
import { StorageError } from "./blob-store.js";
import type { S3StoreOptions } from "./s3-store.js";

export type S3ChecksumMode = "when_required" | "when_supported";
export const S3_CHECKSUM_MODES: readonly S3ChecksumMode[] = ["when_required", "when_supported"];
export const DEFAULT_S3_REGION = "us-east-1";
/** Multipart upload and ranged download part size. */
export const DEFAULT_PART_BYTES = 16 * 1024 * 1024;
/** Parallel ranged downloads of one file. */
export const DEFAULT_DOWNLOAD_CONCURRENCY = 4;

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
  const region = flags.region ?? getEnv("AWS_REGION", env) ?? getEnv("AWS_DEFAULT_REGION", env) ?? DEFAULT_S3_REGION;
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
