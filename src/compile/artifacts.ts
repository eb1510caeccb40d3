/**
 * Artifact folders ↔ blob stores (`herd artifacts push/pull`), and what `herd serve --model` loads
 * (`resolveServeModel`): a GGUF file, a verified artifact folder, an `s3://` artifact pulled into
 * a local cache first, or an artifact name under the `--artifacts` / `HERD_ARTIFACTS` root.
 * @module
 */
import { createHash } from "node:crypto";
import { readFile, stat, unlink, writeFile, rename, mkdir, rm } from "node:fs/promises";
import { homedir } from "node:os";
import { basename, join, resolve } from "node:path";
import { BlobNotFoundError, StorageError } from "../storage/blob-store.js";
import { readBlob } from "../storage/download.js";
import { isS3Url, joinStoreLocation, openBlobStore, type S3Settings } from "../storage/store-url.js";
import { pullFiles, pushFiles, type SyncResult } from "../storage/sync.js";
import {
  MANIFEST_FILE,
  manifestKind,
  parseAnyManifest,
  readAnyManifest,
  readManifest,
  sha256Of,
  verifyAnyArtifact,
  verifyArtifact,
  ArtifactVerificationError,
  type AnyArtifactManifest,
  type ArtifactKind,
  type ArtifactManifest,
  type VerifyMode,
} from "./manifest.js";
import { describeNeuronArtifact, STAGED_MARKER } from "./neuron-artifact.js";

export interface ArtifactTransferOptions {
  readonly s3?: S3Settings;
  /** Bytes moved (pull/push) or hashed (verify). */
  readonly onProgress?: (bytes: number) => void;
  /** Total bytes, once the manifest is known. */
  readonly onTotal?: (bytes: number) => void;
  readonly onSkip?: (path: string) => void;
  readonly signal?: AbortSignal;
  readonly partBytes?: number;
  readonly concurrency?: number;
  /**
   * push: what a folder without a manifest must be (`neuron` describes any folder as a Neuron artifact);
   * pull: what the artifact must be, checked before anything is downloaded.
   */
  readonly kind?: ArtifactKind;
  /** push: bytes hashed while a folder is verified or described. */
  readonly onHashed?: (bytes: number) => void;
}

export interface ArtifactTransferResult {
  readonly manifest: AnyArtifactManifest;
  readonly sync: SyncResult;
  readonly location: string;
  readonly ms: number;
}

/**
 * The manifest `herd artifacts push` publishes `dir` by: its own, verified in full (either kind); for
 * a folder without one, a Neuron manifest herd writes (`describeNeuronArtifact`), when the folder
 * looks like Neuron compiler output or `kind` is `neuron`.
 */
export async function prepareArtifactDir(dir: string, kind?: ArtifactKind, onBytes?: (n: number) => void): Promise<AnyArtifactManifest> {
  const existing = await readAnyManifest(dir);
  if (existing && kind && manifestKind(existing) !== kind)
    throw new StorageError(`${join(dir, MANIFEST_FILE)} describes a ${manifestKind(existing)} artifact, not ${kind}`);
  if (!existing && kind === "herd") throw new StorageError(`${dir} has no ${MANIFEST_FILE}: not a herd artifact (herd compile writes one)`);
  if (!existing) return describeNeuronArtifact(dir, { force: kind === "neuron", onBytes });
  try {
    return await verifyAnyArtifact(dir, "full", onBytes);
  } catch (err) {
    if (err instanceof ArtifactVerificationError && existing.kind === "neuron")
      throw new StorageError(
        `${err.message}\nIf the folder was recompiled on purpose, delete ${join(dir, MANIFEST_FILE)} and push again to describe it anew.`,
        { cause: err },
      );
    throw err;
  }
}

/** Uploads artifact folder `dir` (verified in full first, or described: `prepareArtifactDir`) to `location` (folder or s3://…). */
export async function pushArtifact(dir: string, location: string, opts: ArtifactTransferOptions = {}): Promise<ArtifactTransferResult> {
  const t0 = performance.now();
  const manifest = await prepareArtifactDir(dir, opts.kind, opts.onHashed);
  const text = await readFile(join(dir, MANIFEST_FILE));
  const store = openBlobStore(location, opts.s3);
  try {
    opts.onTotal?.(manifest.files.reduce((n, f) => n + f.bytes, 0));
    const sync = await pushFiles(
      dir,
      store,
      manifest.files,
      { key: MANIFEST_FILE, data: text },
      {
        onProgress: opts.onProgress,
        onSkip: (f) => opts.onSkip?.(f.path),
        signal: opts.signal,
      },
    );
    return { manifest, sync, location: store.location, ms: performance.now() - t0 };
  } finally {
    await store.close();
  }
}

/** The manifest stored at `location`, or a clear error when there is none. */
export async function readRemoteManifest(location: string, s3?: S3Settings): Promise<AnyArtifactManifest> {
  const store = openBlobStore(location, s3);
  try {
    return parseAnyManifest((await readBlob(store, MANIFEST_FILE)).toString("utf8"), joinStoreLocation(store.location, MANIFEST_FILE));
  } catch (err) {
    if (err instanceof BlobNotFoundError)
      throw new StorageError(`no ${MANIFEST_FILE} at ${store.location}: not a herd artifact (publish one with herd artifacts push)`, {
        cause: err,
      });
    throw err;
  } finally {
    await store.close();
  }
}

/**
 * Downloads the artifact at `location` into `dir`: manifest first (read), then every file it
 * lists (resumable, sha256-verified), then the manifest written locally last. A Neuron artifact
 * also gets the staging marker (`.herd-staged`, the manifest's sha256) after its manifest: the chart's
 * vLLM pod starts only on a folder that has it. Both are removed before anything else changes.
 */
export async function pullArtifact(location: string, dir: string, opts: ArtifactTransferOptions = {}): Promise<ArtifactTransferResult> {
  const t0 = performance.now();
  const store = openBlobStore(location, opts.s3);
  try {
    let text: Buffer;
    try {
      text = await readBlob(store, MANIFEST_FILE, opts.signal);
    } catch (err) {
      if (err instanceof BlobNotFoundError)
        throw new StorageError(`no ${MANIFEST_FILE} at ${store.location}: not a herd artifact (publish one with herd artifacts push)`, {
          cause: err,
        });
      throw err;
    }
    const manifest = parseAnyManifest(text.toString("utf8"), joinStoreLocation(store.location, MANIFEST_FILE));
    if (opts.kind && manifestKind(manifest) !== opts.kind)
      throw new StorageError(`${store.location} holds a ${manifestKind(manifest)} artifact, not a ${opts.kind} one`);
    await mkdir(dir, { recursive: true });
    const local = await readFile(join(dir, MANIFEST_FILE)).catch(() => null);
    const previous = await readAnyManifest(dir).catch(() => null);
    // The local manifest goes first: a pull interrupted from here on leaves a folder serve refuses.
    await rm(join(dir, STAGED_MARKER), { force: true });
    if (local && !local.equals(text)) await unlink(join(dir, MANIFEST_FILE));
    opts.onTotal?.(manifest.files.reduce((n, f) => n + f.bytes, 0));
    const sync = await pullFiles(store, dir, manifest.files, {
      onProgress: opts.onProgress,
      onSkip: (f) => opts.onSkip?.(f.path),
      signal: opts.signal,
      download: { partBytes: opts.partBytes, concurrency: opts.concurrency },
    });
    const keep = new Set(manifest.files.map((f) => f.path));
    for (const f of previous?.files ?? []) if (!keep.has(f.path)) await rm(join(dir, f.path), { force: true });
    const tmp = join(dir, `.${MANIFEST_FILE}.${process.pid}.tmp`);
    await writeFile(tmp, text);
    await rename(tmp, join(dir, MANIFEST_FILE));
    if (manifest.kind === "neuron") await writeFile(join(dir, STAGED_MARKER), `${sha256Of(text)}\n`);
    return { manifest, sync, location: store.location, ms: performance.now() - t0 };
  } finally {
    await store.close();
  }
}

export interface ResolveServeModelOptions {
  /** How much of an artifact folder to check before loading (default `full`). */
  readonly verify?: VerifyMode;
  /** Root (folder or s3://bucket/prefix) that bare artifact names are looked up in (`--artifacts`, `HERD_ARTIFACTS`). */
  readonly artifacts?: string;
  /** Where s3:// artifacts are pulled to (default `~/.cache/herd/artifacts`). */
  readonly cacheDir?: string;
  readonly s3?: S3Settings;
  /** Ranged-download part size and parallelism of a pull. */
  readonly partBytes?: number;
  readonly concurrency?: number;
  readonly onProgress?: (phase: "pull" | "verify", bytes: number) => void;
  readonly onTotal?: (phase: "pull" | "verify", bytes: number) => void;
  readonly log?: (message: string) => void;
  readonly signal?: AbortSignal;
}

export interface ServeModel {
  readonly ggufPath: string;
  readonly mmprojPath?: string;
  /** Present when the model came from a compiled artifact. */
  readonly manifest?: ArtifactManifest;
}

export function defaultArtifactCacheDir(): string {
  return join(homedir(), ".cache", "herd", "artifacts");
}

async function kindOf(p: string): Promise<"file" | "dir" | null> {
  try {
    const s = await stat(p);
    return s.isDirectory() ? "dir" : s.isFile() ? "file" : null;
  } catch {
    return null;
  }
}

function pathsOf(dir: string, m: AnyArtifactManifest): ServeModel {
  if (m.kind === "neuron")
    throw new StorageError(`${dir} holds a Neuron compiled artifact (for vLLM on Neuron), not a herd (GGUF) artifact herd serve can load`);
  const model = m.files.find((f) => f.role === "model");
  if (!model) throw new StorageError(`${join(dir, MANIFEST_FILE)} lists no model file`);
  const mm = m.files.find((f) => f.role === "mmproj");
  return { ggufPath: join(dir, model.path), ...(mm ? { mmprojPath: join(dir, mm.path) } : {}), manifest: m };
}

/**
 * What `herd serve --model ARG` loads:
 * - a `.gguf` file: itself (no manifest to check);
 * - an artifact folder: verified against its manifest (`verify`), refusing on any difference;
 * - `s3://bucket/prefix`: pulled into `cacheDir` (every byte checked against the manifest), then served from there;
 * - a name under `artifacts` (a folder or s3:// root): as above at `<artifacts>/<name>`.
 */
export async function resolveServeModel(modelArg: string, opts: ResolveServeModelOptions = {}): Promise<ServeModel> {
  const verify = opts.verify ?? "full";
  const verifyDir = async (dir: string): Promise<ServeModel> => {
    const m = await readManifest(dir); // refuses a Neuron artifact by name
    if (m) opts.onTotal?.("verify", verify === "full" ? m.files.reduce((n, f) => n + f.bytes, 0) : 0);
    const manifest = await verifyArtifact(dir, verify, (n) => opts.onProgress?.("verify", n));
    return pathsOf(dir, manifest);
  };
  const pull = async (location: string): Promise<ServeModel> => {
    const root = opts.cacheDir ?? defaultArtifactCacheDir();
    const id = createHash("sha256").update(location).digest("hex").slice(0, 12);
    const dir = join(root, `${basename(location.replace(/\/+$/, "")) || "artifact"}-${id}`);
    opts.log?.(`pulling ${location} into ${dir}`);
    const r = await pullArtifact(location, dir, {
      s3: opts.s3,
      signal: opts.signal,
      partBytes: opts.partBytes,
      concurrency: opts.concurrency,
      kind: "herd",
      onProgress: (n) => opts.onProgress?.("pull", n),
      onTotal: (n) => opts.onTotal?.("pull", n),
    });
    // Every file was just hashed against the manifest (downloaded or kept): sizes suffice now.
    return pathsOf(dir, await verifyArtifact(dir, verify === "none" ? "none" : "size").then(() => r.manifest));
  };

  if (isS3Url(modelArg)) return pull(modelArg);
  const kind = await kindOf(modelArg);
  if (kind === "file") return { ggufPath: resolve(modelArg) };
  if (kind === "dir") return verifyDir(resolve(modelArg));
  if (opts.artifacts && !modelArg.includes("/")) {
    const location = joinStoreLocation(opts.artifacts, modelArg);
    if (isS3Url(location)) return pull(location);
    if ((await kindOf(location)) === "dir") return verifyDir(resolve(location));
    throw new StorageError(`model ${modelArg}: no artifact folder ${location} (under --artifacts ${opts.artifacts})`);
  }
  throw new StorageError(
    `model ${modelArg}: not a GGUF file, an artifact folder or an s3:// URL` +
      `${opts.artifacts ? "" : " (and no --artifacts / HERD_ARTIFACTS root to look names up in)"}`,
  );
}
