/**
 * The artifact manifest (`herd-manifest.json`): what a compiled artifact folder contains and how it
 * was made. Servers verify the files against it before loading; `herd compile` compares its input
 * key to skip work that is already done; `herd artifacts push/pull` publish and fetch by it (data
 * files first, the manifest last, so a reader that sees a manifest sees complete data).
 *
 * Two kinds share the format: `herd` (GGUF files from `herd compile`; manifests written before kinds
 * existed have no `kind` and are this one) and `neuron` (a folder compiled by NxD Inference or
 * vLLM-neuron, described by herd: files, sizes, sha256 and the compile settings it could read; see
 * `neuron-artifact.ts`). `readManifest`/`verifyArtifact` are for herd artifacts and refuse a Neuron
 * one by name; the `…Any…` variants accept both.
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

/** `herd`: GGUF files from `herd compile`. `neuron`: a folder compiled by NxD Inference / vLLM-neuron. */
export type ArtifactKind = "herd" | "neuron";
export const ARTIFACT_KINDS: readonly ArtifactKind[] = ["herd", "neuron"];

/** A herd (GGUF) artifact's manifest. */
export interface ArtifactManifest {
  readonly format: typeof MANIFEST_FORMAT;
  readonly formatVersion: number;
  /** Absent in manifests written before kinds existed. */
  readonly kind?: "herd";
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

/** One file of a Neuron artifact (any file of the compiled folder, nested paths included). */
export interface NeuronArtifactFile {
  readonly path: string;
  readonly bytes: number;
  readonly sha256: string;
}

/**
 * The compile settings of a Neuron artifact, from its `neuron_config.json` (NxD Inference's
 * `neuron_config`, the text model's for Llama 4); null where the folder does not say.
 */
export interface NeuronCompileSettings {
  /** `tp_degree`: vLLM's `--tensor-parallel-size` must equal it. */
  readonly tpDegree: number | null;
  /** `seq_len`: vLLM's `--max-model-len` must equal it. */
  readonly seqLen: number | null;
  readonly maxContextLength: number | null;
  /** `batch_size` (vLLM's `--max-num-seqs` without chunked prefill). */
  readonly batchSize: number | null;
  readonly contextEncodingBuckets: readonly number[] | null;
  readonly tokenGenerationBuckets: readonly number[] | null;
  readonly torchDtype: string | null;
  readonly logicalNcConfig: number | null;
  /** Versions of the Neuron packages that compiled it, where known (`neuronx-cc`, …); `{}` otherwise. */
  readonly sdk: Readonly<Record<string, string>>;
}

/** A Neuron compiled artifact's manifest, written by `herd artifacts push` or the chart's compile Job. */
export interface NeuronArtifactManifest {
  readonly format: typeof MANIFEST_FORMAT;
  readonly formatVersion: number;
  readonly kind: "neuron";
  /** `herd <version>` or `herd chart compile job`. */
  readonly createdBy: string;
  readonly createdAt: string;
  /** The model it was compiled from (`_name_or_path`, or the compile Job's model id), where known. */
  readonly model: string | null;
  readonly neuron: NeuronCompileSettings;
  /** Every file, `SHA256SUMS` and `herd-compile.env` included. */
  readonly files: readonly NeuronArtifactFile[];
}

export type AnyArtifactManifest = ArtifactManifest | NeuronArtifactManifest;

export function manifestKind(m: AnyArtifactManifest): ArtifactKind {
  return m.kind ?? "herd";
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

/** Parses and sanity-checks manifest text of either kind. */
export function parseAnyManifest(text: string, where = MANIFEST_FILE): AnyArtifactManifest {
  let m: AnyArtifactManifest;
  try {
    m = JSON.parse(text) as AnyArtifactManifest;
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
  const kind = (m as { kind?: unknown }).kind;
  if (kind !== undefined && !ARTIFACT_KINDS.includes(kind as ArtifactKind))
    throw new ManifestError(`${where} has kind ${JSON.stringify(kind)}; this herd knows ${ARTIFACT_KINDS.join(", ")}`);
  if (!Array.isArray(m.files) || m.files.length === 0) throw new ManifestError(`${where} lists no files`);
  for (const f of m.files) {
    if (
      typeof f.path !== "string" ||
      f.path.includes("..") ||
      f.path.startsWith("/") ||
      /[\\\n\r]/.test(f.path) ||
      typeof f.bytes !== "number" ||
      !/^[0-9a-f]{64}$/.test(f.sha256)
    ) {
      throw new ManifestError(`${where}: malformed file entry ${JSON.stringify(f)}`);
    }
  }
  return m;
}

/** A herd (GGUF) artifact's manifest; a Neuron one is refused by name. */
function herdOnly(m: AnyArtifactManifest, where: string): ArtifactManifest {
  if (m.kind === "neuron")
    throw new ManifestError(
      `${where} describes a Neuron compiled artifact (for vLLM on Neuron, ${m.files.length} files), not a herd (GGUF) artifact; ` +
        `herd serve and herd compile use herd artifacts (herd artifacts push/pull/verify take both)`,
    );
  return m;
}

/** Parses and sanity-checks the text of a herd (GGUF) artifact's manifest. */
export function parseManifest(text: string, where = MANIFEST_FILE): ArtifactManifest {
  return herdOnly(parseAnyManifest(text, where), where);
}

/** Reads `dir/herd-manifest.json` of either kind, or null when there is none. */
export async function readAnyManifest(dir: string): Promise<AnyArtifactManifest | null> {
  let text: string;
  try {
    text = await readFile(join(dir, MANIFEST_FILE), "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw err;
  }
  return parseAnyManifest(text, join(dir, MANIFEST_FILE));
}

/** Reads a herd artifact's `dir/herd-manifest.json`, or null when there is none. */
export async function readManifest(dir: string): Promise<ArtifactManifest | null> {
  const m = await readAnyManifest(dir);
  return m && herdOnly(m, join(dir, MANIFEST_FILE));
}

function serializeManifest(m: AnyArtifactManifest): string {
  return `${JSON.stringify(m, null, 2)}\n`;
}

/** Writes the manifest atomically (temp file + rename). */
export async function writeManifest(dir: string, m: AnyArtifactManifest): Promise<void> {
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
 * Checks the files of artifact `dir` (either kind) against its manifest: presence and size
 * (`size`), plus the sha256 of every byte (`full`). Throws `ArtifactVerificationError` listing every difference.
 */
export async function verifyAnyArtifact(dir: string, mode: VerifyMode, onBytes?: (n: number) => void): Promise<AnyArtifactManifest> {
  const m = await readAnyManifest(dir);
  if (!m)
    throw new ArtifactVerificationError(dir, [
      `no ${MANIFEST_FILE}: not a compiled herd artifact (herd compile writes one; herd artifacts push describes a Neuron compiled folder)`,
    ]);
  if (mode === "none") return m;
  const problems: string[] = [];
  const present: { path: string; bytes: number; sha256: string }[] = [];
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

/** `verifyAnyArtifact` for a herd (GGUF) artifact: a Neuron artifact is refused by name. */
export async function verifyArtifact(dir: string, mode: VerifyMode, onBytes?: (n: number) => void): Promise<ArtifactManifest> {
  await readManifest(dir); // a Neuron manifest is refused before any byte is hashed
  return herdOnly(await verifyAnyArtifact(dir, mode, onBytes), join(dir, MANIFEST_FILE));
}
