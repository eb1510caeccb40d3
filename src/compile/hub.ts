/**
 * Hugging Face Hub checkpoints for `herd compile meta-llama/…`: the revision is resolved to a
 * commit (`GET {endpoint}/api/models/{repo}/revision/{rev}?blobs=true`), the files the compiler
 * needs (configs, tokenizer files, top-level `*.safetensors`) are downloaded from
 * `{endpoint}/{repo}/resolve/{commit}/{file}` with the user's token into
 * `{cacheDir}/{org}--{name}/{commit}/`, through `downloadBlob` (parallel ranges, resumable) and
 * verified: LFS files by the sha256 the Hub lists, small files by their git blob id.
 * @module
 */
import { createHash } from "node:crypto";
import { readFile, stat, writeFile, mkdir } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import { ENV_VARS, type EnvSource, getEnv } from "../config/env.js";
import { StorageError } from "../storage/blob-store.js";
import { downloadBlob } from "../storage/download.js";
import { CHECKPOINT_SMALL_FILES } from "./hf-config.js";
import { HttpBlobStore, type HttpFile } from "../storage/http-store.js";

export const DEFAULT_HF_ENDPOINT: string = ENV_VARS.HF_ENDPOINT.default;

/** Files the compiler reads (besides `*.safetensors`). */
const WANTED: ReadonlySet<string> = new Set(CHECKPOINT_SMALL_FILES);

export interface HubOptions {
  readonly endpoint?: string;
  readonly token?: string;
  /** Branch, tag or commit (default `main`). */
  readonly revision?: string;
  readonly cacheDir: string;
  readonly onTotal?: (bytes: number) => void;
  readonly onProgress?: (bytes: number) => void;
  readonly signal?: AbortSignal;
  readonly partBytes?: number;
  readonly concurrency?: number;
}

export interface HubCheckpoint {
  readonly repo: string;
  /** The commit the revision resolved to. */
  readonly commit: string;
  readonly dir: string;
  /** sha256 of LFS files as listed by the Hub, by path. */
  readonly knownSha256: ReadonlyMap<string, string>;
  readonly downloadedBytes: number;
  readonly totalBytes: number;
}

/** The Hub token: the flag, then HF_TOKEN / HUGGING_FACE_HUB_TOKEN, then the token file (as huggingface_hub reads it). */
export async function hubToken(flag: string | undefined, env: EnvSource): Promise<string | undefined> {
  if (flag) return flag;
  const fromEnv = getEnv("HF_TOKEN", env) ?? getEnv("HUGGING_FACE_HUB_TOKEN", env);
  if (fromEnv) return fromEnv;
  const file = getEnv("HF_TOKEN_PATH", env) ?? join(getEnv("HF_HOME", env) ?? join(homedir(), ".cache", "huggingface"), "token");
  return (await readFile(file, "utf8").catch(() => ""))?.trim() || undefined;
}

/** `org/name` that is not a path on disk. */
export function looksLikeHubId(s: string): boolean {
  return /^[A-Za-z0-9][A-Za-z0-9_.-]*\/[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(s) && !s.includes("..");
}

interface Sibling {
  rfilename: string;
  size?: number;
  blobId?: string;
  lfs?: { sha256?: string; size?: number };
}

function authHint(endpoint: string, repo: string, token: string | undefined): string {
  return token
    ? `the token was refused or lacks access — accept the model's license at ${endpoint}/${repo} and check the token's permissions`
    : `the repository is gated or private: pass --hf-token TOKEN or set HF_TOKEN (and accept the license at ${endpoint}/${repo})`;
}

/** git's blob id: sha1("blob <size>\0" + content). */
function gitBlobId(data: Buffer): string {
  return createHash("sha1").update(`blob ${data.length}\0`).update(data).digest("hex");
}

/** Resolves `repo`@revision and downloads the checkpoint files into the cache (reusing verified files). */
export async function downloadHubCheckpoint(repo: string, opts: HubOptions): Promise<HubCheckpoint> {
  const endpoint = (opts.endpoint ?? DEFAULT_HF_ENDPOINT).replace(/\/+$/, "");
  const revision = opts.revision ?? "main";
  const headers: Record<string, string> = opts.token ? { authorization: `Bearer ${opts.token}` } : {};
  const apiUrl = `${endpoint}/api/models/${repo}/revision/${encodeURIComponent(revision)}?blobs=true`;
  let res: Response;
  try {
    res = await fetch(apiUrl, { headers, signal: opts.signal });
  } catch (err) {
    throw new StorageError(
      `cannot reach the Hugging Face Hub at ${endpoint} (${(err as Error).message}); set --hf-endpoint / HF_ENDPOINT for a mirror`,
      { cause: err },
    );
  }
  if (res.status === 401 || res.status === 403)
    throw new StorageError(`${repo}: HTTP ${res.status} from ${endpoint}: ${authHint(endpoint, repo, opts.token)}`);
  if (res.status === 404)
    throw new StorageError(`${repo}@${revision}: not found on ${endpoint} (a gated repository also answers 404 without a token)`);
  if (!res.ok) throw new StorageError(`${apiUrl}: HTTP ${res.status}`);
  const info = (await res.json()) as { sha?: string; siblings?: Sibling[] };
  const commit = info.sha;
  if (!commit || !Array.isArray(info.siblings)) throw new StorageError(`${apiUrl}: unexpected answer (no sha / siblings)`);

  const files: Array<HttpFile & { blobId?: string }> = [];
  for (const s of info.siblings) {
    const name = s.rfilename;
    if (name.includes("/") || !(WANTED.has(name) || name.endsWith(".safetensors"))) continue;
    const bytes = s.lfs?.size ?? s.size;
    if (bytes === undefined) throw new StorageError(`${apiUrl}: no size for ${name}`);
    files.push({
      key: name,
      bytes,
      etag: `${commit}:${s.lfs?.sha256 ?? s.blobId ?? ""}`,
      ...(s.lfs?.sha256 ? { sha256: s.lfs.sha256 } : {}),
      ...(s.blobId ? { blobId: s.blobId } : {}),
    });
  }
  if (!files.some((f) => f.key === "config.json")) throw new StorageError(`${repo}@${commit}: no config.json at the repository root`);
  if (!files.some((f) => f.key.endsWith(".safetensors")))
    throw new StorageError(`${repo}@${commit}: no *.safetensors files at the repository root`);

  const dir = join(opts.cacheDir, repo.replace("/", "--"), commit);
  await mkdir(dir, { recursive: true });
  const verifiedPath = join(dir, ".herd-verified.json");
  const verified = new Map<string, string>(
    Object.entries(JSON.parse(await readFile(verifiedPath, "utf8").catch(() => "{}")) as Record<string, string>),
  );
  const store = new HttpBlobStore({
    location: `${endpoint}/${repo}@${commit.slice(0, 12)}`,
    urlOf: (key) => `${endpoint}/${repo}/resolve/${commit}/${key}`,
    files,
    headers,
    authHint: authHint(endpoint, repo, opts.token),
  });
  const totalBytes = files.reduce((n, f) => n + f.bytes, 0);
  opts.onTotal?.(totalBytes);
  let downloadedBytes = 0;
  for (const f of files) {
    const dest = join(dir, f.key);
    const have = await stat(dest).then(
      (s) => s.size,
      () => -1,
    );
    if (have === f.bytes && verified.get(f.key) === f.etag) {
      opts.onProgress?.(f.bytes);
      continue;
    }
    const r = await downloadBlob(store, f.key, dest, {
      sha256: f.sha256,
      bytes: f.bytes,
      partBytes: opts.partBytes,
      concurrency: opts.concurrency,
      onProgress: opts.onProgress,
      signal: opts.signal,
    });
    downloadedBytes += r.downloadedBytes;
    if (!f.sha256 && f.blobId) {
      const got = gitBlobId(await readFile(dest));
      if (got !== f.blobId)
        throw new StorageError(
          `${repo}/${f.key}: git blob id ${got.slice(0, 12)}…, the Hub lists ${f.blobId.slice(0, 12)}… (corrupted download)`,
        );
    }
    verified.set(f.key, f.etag);
    await writeFile(verifiedPath, JSON.stringify(Object.fromEntries(verified)));
  }
  const knownSha256 = new Map(files.filter((f) => f.sha256).map((f) => [f.key, f.sha256!]));
  return { repo, commit, dir, knownSha256, downloadedBytes, totalBytes };
}
