/**
 * The artifact manifest (`herd-manifest.json`): what a compiled artifact folder contains and how it
 * was made. Servers verify the files against it before loading; `herd compile` compares its input
 * key to skip work that is already done; `herd artifacts push/pull` publish and fetch by it (data
 * files first, the manifest last, so a reader that sees a manifest sees complete data).
 * @module
 */
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { readFile, rename, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";

export const MANIFEST_FILE = "herd-manifest.json";
export const MANIFEST_FORMAT = "herd-artifact";
export const MANIFEST_FORMAT_VERSION = 1;

export type ArtifactRole = "model" | "mmproj";

export interface ArtifactFile {
  /** Path relative to the artifact folder. */
  readonly path: string;
  readonly role: ArtifactRole;
  readonly bytes: number;
  readonly sha256: string;
  /** ggml type name of the bulk of the weights (F16, Q8_0, …). */
  readonly type: string;
}

export interface SourceFile {
  readonly path: string;
  readonly bytes: number;
  /** Full-content hash (small files, and hub files whose LFS hash is known). */
  readonly sha256?: string;
  /** Hash of the safetensors header (tensor names, dtypes, shapes, offsets). */
  readonly headerSha256?: string;
}

export interface ArtifactManifest {
  readonly format: typeof MANIFEST_FORMAT;
  readonly formatVersion: number;
  readonly source: {
    /** Hub id (`meta-llama/…`) or the absolute path of a local checkpoint folder. */
    readonly id: string;
    readonly kind: "hub" | "local";
    /** Hub commit sha; null for local folders. */
    readonly revision: string | null;
    /** sha256 of config.json. */
    readonly configSha256: string;
    readonly files: readonly SourceFile[];
  };
  readonly quantization: string;
  /** Hash of everything that determines the output bytes; equal keys ⇒ identical files. */
  readonly inputKey: string;
  readonly compiler: { readonly version: number; readonly tokenizerPre: string; readonly vision: boolean };
  readonly herdVersion: string;
  readonly llamaCpp: { readonly release: string; readonly version: string };
  readonly createdAt: string;
  readonly model: {
    readonly architecture: string;
    readonly hfArchitecture: string;
    readonly name: string;
    readonly contextLength: number | null;
    readonly vocabSize: number;
    readonly parameters: number;
    readonly stopTokenIds: readonly number[];
    readonly chatTemplateSource: string;
    readonly generation: Readonly<Record<string, number>>;
  };
  readonly files: readonly ArtifactFile[];
}

class ManifestError extends Error {
  override readonly name = "ManifestError";
}

/** sha256 (hex) of a file, streamed. */
export async function sha256File(path: string, onBytes?: (n: number) => void): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(path, { highWaterMark: 4 << 20 })) {
    hash.update(chunk as Buffer);
    onBytes?.((chunk as Buffer).length);
  }
  return hash.digest("hex");
}

export function sha256Of(data: string | Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

/** Parses and sanity-checks manifest text. */
export function parseManifest(text: string, where = MANIFEST_FILE): ArtifactManifest {
  let m: ArtifactManifest;
  try {
    m = JSON.parse(text) as ArtifactManifest;
  } catch (err) {
    throw new ManifestError(`${where} is not valid JSON (${(err as Error).message})`);
  }
  if (m?.format !== MANIFEST_FORMAT)
    throw new ManifestError(`${where} is not a herd artifact manifest (format ${JSON.stringify(m?.format)})`);
  if (m.formatVersion !== MANIFEST_FORMAT_VERSION) {
    throw new ManifestError(
      `${where} has manifest format version ${m.formatVersion}; ` +
        `this herd reads version ${MANIFEST_FORMAT_VERSION} — recompile the artifact or use a matching herd`,
    );
  }
  if (!Array.isArray(m.files) || m.files.length === 0) throw new ManifestError(`${where} lists no files`);
  for (const f of m.files) {
    if (
      typeof f.path !== "string" ||
      f.path.includes("..") ||
      f.path.startsWith("/") ||
      typeof f.bytes !== "number" ||
      !/^[0-9a-f]{64}$/.test(f.sha256)
    ) {
      throw new ManifestError(`${where}: malformed file entry ${JSON.stringify(f)}`);
    }
  }
  return m;
}

/** Reads `dir/herd-manifest.json`, or null when there is none. */
export async function readManifest(dir: string): Promise<ArtifactManifest | null> {
  let text: string;
  try {
    text = await readFile(join(dir, MANIFEST_FILE), "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw err;
  }
  return parseManifest(text, join(dir, MANIFEST_FILE));
}

function serializeManifest(m: ArtifactManifest): string {
  return `${JSON.stringify(m, null, 2)}\n`;
}

/** Writes the manifest atomically (temp file + rename). */
export async function writeManifest(dir: string, m: ArtifactManifest): Promise<void> {
  const tmp = join(dir, `.${MANIFEST_FILE}.${process.pid}.tmp`);
  await writeFile(tmp, serializeManifest(m));
  await rename(tmp, join(dir, MANIFEST_FILE));
}

export type VerifyMode = "full" | "size" | "none";
export const VERIFY_MODES: readonly VerifyMode[] = ["full", "size", "none"];

/** The artifact does not match its manifest; `problems` says what differs, one line each. */
export class ArtifactVerificationError extends Error {
  override readonly name = "ArtifactVerificationError";
  constructor(
    readonly dir: string,
    readonly problems: readonly string[],
  ) {
    super(
      `artifact ${dir} does not match its manifest:\n  ${problems.join("\n  ")}\n` +
        `Refusing to load it. Re-pull or recompile the artifact (herd never rebuilds it silently).`,
    );
  }
}

const short = (h: string) => `${h.slice(0, 12)}…`;

/**
 * Checks the files of artifact `dir` against its manifest: presence and size (`size`), plus the
 * sha256 of every byte (`full`). Throws `ArtifactVerificationError` listing every difference.
 */
export async function verifyArtifact(dir: string, mode: VerifyMode, onBytes?: (n: number) => void): Promise<ArtifactManifest> {
  const m = await readManifest(dir);
  if (!m) throw new ArtifactVerificationError(dir, [`no ${MANIFEST_FILE}: not a compiled herd artifact (create one with herd compile)`]);
  if (mode === "none") return m;
  const problems: string[] = [];
  const present: ArtifactFile[] = [];
  for (const f of m.files) {
    let bytes: number;
    try {
      bytes = (await stat(join(dir, f.path))).size;
    } catch {
      problems.push(`${f.path}: missing (manifest lists ${f.bytes} bytes)`);
      continue;
    }
    if (bytes !== f.bytes) problems.push(`${f.path}: ${bytes} bytes, manifest says ${f.bytes}`);
    else present.push(f);
  }
  if (mode === "full") {
    for (const f of present) {
      const got = await sha256File(join(dir, f.path), onBytes);
      if (got !== f.sha256) problems.push(`${f.path}: sha256 ${short(got)}, manifest says ${short(f.sha256)} (corrupted or replaced)`);
    }
  }
  if (problems.length > 0) throw new ArtifactVerificationError(dir, problems);
  return m;
}
