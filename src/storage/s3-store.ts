/**
 * BlobStore over S3 or an S3-compatible store (Ceph RGW, MinIO, …) with @aws-sdk/client-s3.
 *
 * - `putFile` is a multipart upload (@aws-sdk/lib-storage `Upload`: `partBytes` parts,
 *   `queueSize` in flight); the blob's sha256 travels as user metadata (`x-amz-meta-sha256`).
 * - Reads are ranged GETs; `downloadBlob` (download.ts) runs several in parallel and resumes.
 * - Checksum mode: with `when_supported` (the SDK default, right for AWS) the SDK adds CRC
 *   checksums to every request, which for streamed bodies means `aws-chunked` encoding with a
 *   trailer that several S3-compatible servers reject (Ceph RGW 16: 411 MissingContentLength) or
 *   store verbatim (s3rver: silent corruption). `when_required` sends checksums only where the API
 *   demands them; herd verifies content with its own sha256 either way (deploy-anchors.md §4).
 * - Errors carry the bucket/key and say what to fix (credentials, bucket, endpoint).
 * @module
 */
import { createReadStream } from "node:fs";
import { Readable } from "node:stream";
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
  type ListObjectsV2CommandOutput,
} from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import { setEnvDefault } from "../config/env.js";
import { DEFAULT_PART_BYTES, type S3ChecksumMode } from "./s3-settings.js";
import { BlobNotFoundError, checkKey, StorageError, type BlobInfo, type BlobStore, type ByteRange, type PutOptions } from "./blob-store.js";

export interface S3StoreOptions {
  readonly bucket: string;
  /** Key prefix (no leading or trailing slash); "" for the bucket root. */
  readonly prefix?: string;
  /** Custom endpoint (`http://127.0.0.1:7480`); default: AWS. */
  readonly endpoint?: string;
  readonly region?: string;
  /** Path-style URLs (`endpoint/bucket/key`); needed by most S3-compatible stores. */
  readonly forcePathStyle?: boolean;
  readonly checksum?: S3ChecksumMode;
  /** Explicit credentials; default: the SDK's provider chain (env, profile, instance role, …). */
  readonly credentials?: { readonly accessKeyId: string; readonly secretAccessKey: string; readonly sessionToken?: string };
  /** Multipart part size (default 16 MiB; S3 allows 5 MiB … 5 GiB, at most 10,000 parts). */
  readonly partBytes?: number;
  /** Parts uploaded concurrently (default 4). */
  readonly queueSize?: number;
  readonly maxAttempts?: number;
}

const MIN_PART = 5 * 1024 * 1024;

export class S3BlobStore implements BlobStore {
  readonly client: S3Client;
  readonly bucket: string;
  readonly prefix: string;
  readonly #opts: S3StoreOptions;

  constructor(opts: S3StoreOptions) {
    // The SDK version is pinned; its notice that *future* releases need Node 22 is noise here.
    setEnvDefault("AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED", "true");
    this.#opts = opts;
    this.bucket = opts.bucket;
    this.prefix = (opts.prefix ?? "").replace(/^\/+|\/+$/g, "");
    const mode = opts.checksum === "when_supported" ? "WHEN_SUPPORTED" : "WHEN_REQUIRED";
    this.client = new S3Client({
      region: opts.region ?? "us-east-1",
      ...(opts.endpoint ? { endpoint: opts.endpoint } : {}),
      forcePathStyle: opts.forcePathStyle ?? opts.endpoint !== undefined,
      requestChecksumCalculation: mode,
      responseChecksumValidation: mode,
      ...(opts.credentials ? { credentials: opts.credentials } : {}),
      maxAttempts: opts.maxAttempts ?? 5,
    });
  }

  get location(): string {
    return `s3://${this.bucket}${this.prefix ? `/${this.prefix}` : ""}`;
  }

  #key(key: string): string {
    checkKey(key);
    return this.prefix ? `${this.prefix}/${key}` : key;
  }

  #rel(fullKey: string): string {
    return this.prefix ? fullKey.slice(this.prefix.length + 1) : fullKey;
  }

  /** Rewrites SDK errors into messages that say what to fix. */
  #fail(err: unknown, what: string): never {
    if (err instanceof StorageError) throw err;
    const where = `${this.location}${what ? `/${what}` : ""}`;
    const name = (err as { name?: string }).name ?? "";
    const code = (err as { code?: string }).code ?? "";
    const status = err instanceof S3ServiceException ? err.$metadata.httpStatusCode : undefined;
    if (name === "CredentialsProviderError") {
      throw new StorageError(
        `no S3 credentials for ${where}: set AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or give the pod/instance a role`,
        { cause: err },
      );
    }
    if (["SignatureDoesNotMatch", "InvalidAccessKeyId", "InvalidToken", "ExpiredToken"].includes(name) || status === 403) {
      throw new StorageError(
        `S3 refused the credentials for ${where} (${name || status}): ` +
          `check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (or the profile / role) and the bucket policy`,
        { cause: err },
      );
    }
    if (name === "NoSuchBucket")
      throw new StorageError(`S3 bucket ${this.bucket} does not exist at ${this.#opts.endpoint ?? "AWS"} (create it first)`, {
        cause: err,
      });
    if (code === "ECONNREFUSED" || code === "ENOTFOUND" || code === "ECONNRESET" || name === "TimeoutError") {
      throw new StorageError(
        `cannot reach the S3 endpoint ${this.#opts.endpoint ?? "(AWS default)"} for ${where}: ` +
          `${code || name} (check --s3-endpoint / AWS_ENDPOINT_URL)`,
        { cause: err },
      );
    }
    throw new StorageError(`S3 request for ${where} failed: ${name || code || "error"}: ${(err as Error).message}`, { cause: err });
  }

  async head(key: string): Promise<BlobInfo | null> {
    try {
      const r = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.#key(key) }));
      return { key, bytes: r.ContentLength ?? 0, etag: r.ETag ?? "", metadata: r.Metadata ?? {} };
    } catch (err) {
      const status = err instanceof S3ServiceException ? err.$metadata.httpStatusCode : undefined;
      if ((err as { name?: string }).name === "NotFound" || (err as { name?: string }).name === "NoSuchKey" || status === 404) return null;
      this.#fail(err, key);
    }
  }

  async list(prefix = ""): Promise<BlobInfo[]> {
    const out: BlobInfo[] = [];
    let token: string | undefined;
    do {
      let r: ListObjectsV2CommandOutput;
      try {
        r = await this.client.send(
          new ListObjectsV2Command({
            Bucket: this.bucket,
            Prefix: this.prefix ? `${this.prefix}/${prefix}` : prefix,
            ContinuationToken: token,
          }),
        );
      } catch (err) {
        this.#fail(err, prefix);
      }
      for (const o of r.Contents ?? []) {
        if (!o.Key) continue;
        out.push({ key: this.#rel(o.Key), bytes: o.Size ?? 0, etag: o.ETag ?? "", metadata: {} });
      }
      token = r.IsTruncated ? r.NextContinuationToken : undefined;
    } while (token);
    return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  async getStream(key: string, range?: ByteRange, signal?: AbortSignal): Promise<Readable> {
    if (range && range.end <= range.start) return Readable.from([]);
    try {
      const r = await this.client.send(
        new GetObjectCommand({
          Bucket: this.bucket,
          Key: this.#key(key),
          ...(range ? { Range: `bytes=${range.start}-${range.end - 1}` } : {}),
        }),
        { abortSignal: signal },
      );
      return r.Body as Readable;
    } catch (err) {
      const name = (err as { name?: string }).name;
      if (name === "NoSuchKey" || name === "NotFound") throw new BlobNotFoundError(this.location, key);
      this.#fail(err, key);
    }
  }

  async putBytes(key: string, data: Uint8Array, opts: PutOptions = {}): Promise<void> {
    try {
      await this.client.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: this.#key(key),
          Body: data,
          ContentLength: data.length,
          Metadata: { ...opts.metadata },
        }),
        { abortSignal: opts.signal },
      );
    } catch (err) {
      this.#fail(err, key);
    }
    opts.onProgress?.(data.length);
  }

  async putFile(key: string, path: string, opts: PutOptions = {}): Promise<void> {
    const partSize = Math.max(MIN_PART, this.#opts.partBytes ?? DEFAULT_PART_BYTES);
    const upload = new Upload({
      client: this.client,
      params: {
        Bucket: this.bucket,
        Key: this.#key(key),
        Body: createReadStream(path, { highWaterMark: 1 << 20 }),
        Metadata: { ...opts.metadata },
      },
      partSize,
      queueSize: this.#opts.queueSize ?? 4,
      leavePartsOnError: false,
    });
    let last = 0;
    upload.on("httpUploadProgress", (p) => {
      const loaded = p.loaded ?? 0;
      if (loaded > last) {
        opts.onProgress?.(loaded - last);
        last = loaded;
      }
    });
    const onAbort = () => void upload.abort();
    opts.signal?.addEventListener("abort", onAbort, { once: true });
    try {
      await upload.done();
    } catch (err) {
      if (opts.signal?.aborted) throw opts.signal.reason ?? err;
      this.#fail(err, key);
    } finally {
      opts.signal?.removeEventListener("abort", onAbort);
    }
  }

  async delete(key: string): Promise<void> {
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.#key(key) }));
    } catch (err) {
      if ((err as { name?: string }).name === "NoSuchKey") return;
      this.#fail(err, key);
    }
  }

  async close(): Promise<void> {
    this.client.destroy();
  }
}
