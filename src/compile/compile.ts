/**
 * `herd compile`: a Hugging Face checkpoint folder → a verified artifact folder:
 *
 *   <name>-<QUANT>.gguf          the text model (llama.cpp GGUF)
 *   mmproj-<name>-<TYPE>.gguf    the vision projector, when the checkpoint has a vision tower
 *   herd-manifest.json           written last: source, hashes, versions (see manifest.ts)
 *
 * Steps: fingerprint the inputs (config/tokenizer files hashed, safetensors headers hashed; the
 * weights are not re-read) → skip when the folder's manifest has the same input key and its files
 * are intact → convert to float GGUF (F16/BF16/F32 directly; for Q8_0/Q4_K_M a lossless
 * intermediate that `llama_model_quantize` turns into the final file) → hash → manifest. The same
 * inputs always give byte-identical GGUF files.
 * @module
 */
import { mkdir, readdir, rename, rm, stat, unlink } from "node:fs/promises";
import { basename, join, resolve } from "node:path";
import { HERD_VERSION } from "../common/version.js";
import { DEFAULT_HERD_QUANT } from "../common/serving-defaults.js";
import { GgmlType } from "../model/gguf/gguf-writer.js";
import { quantizeModel } from "../model/quantize.js";
import { convertCheckpoint, type ConvertResult } from "./convert.js";
import { CHECKPOINT_SMALL_FILES } from "./hf-config.js";
import { readGgufHeader } from "./gguf-inspect.js";
import { readCheckpointConfig } from "./hf-config.js";
import { textHparams } from "./llama-text.js";
import { llamaCppVersion } from "./llama-cpp-version.js";
import {
  MANIFEST_FILE,
  MANIFEST_FORMAT,
  MANIFEST_FORMAT_VERSION,
  readManifest,
  sha256File,
  sha256Of,
  verifyArtifact,
  writeManifest,
  type ArtifactFile,
  type ArtifactManifest,
  type SourceFile,
} from "./manifest.js";
import { SafetensorsCheckpoint } from "./safetensors.js";
import type { OutFloatType } from "./tensor-data.js";

/** Bump when the compiler's output bytes change for unchanged inputs. */
const COMPILER_VERSION = 1;

export const COMPILE_QUANTS = ["F16", "BF16", "Q8_0", "Q4_K_M", "F32"] as const;
export type CompileQuant = (typeof COMPILE_QUANTS)[number];
/** `--quant` when none is given: the herd backend's default format, which `herd plan`/`herd deploy` size too. */
export const DEFAULT_COMPILE_QUANT: CompileQuant = DEFAULT_HERD_QUANT;

export interface CompileSource {
  readonly id: string;
  readonly kind: "hub" | "local";
  readonly revision: string | null;
  /** sha256 of files whose content hash is already known (hub LFS files), by relative path. */
  readonly knownSha256?: ReadonlyMap<string, string>;
}

export type CompilePhase = "fingerprint" | "convert" | "quantize" | "hash" | "skip" | "done";

export interface CompileProgress {
  readonly phase: CompilePhase;
  /** Bytes done in this phase (checkpoint bytes read while converting, output bytes while hashing). */
  readonly bytes?: number;
  readonly totalBytes?: number;
  readonly message?: string;
}

export interface CompileOptions {
  readonly quant: CompileQuant;
  /** Recompile even when the manifest matches. */
  readonly force?: boolean;
  readonly tokenizerPre?: string;
  /** Write the mmproj when the checkpoint has a vision tower (default true). */
  readonly vision?: boolean;
  /** `general.name` and the file-name stem; default: the hub id or the folder name. */
  readonly name?: string;
  /** Threads for llama_model_quantize (default: all cores). */
  readonly threads?: number;
  /** Where the checkpoint came from; default: the local folder itself. */
  readonly source?: CompileSource;
  readonly onProgress?: (p: CompileProgress) => void;
}

export interface CompileResult {
  readonly outDir: string;
  readonly manifest: ArtifactManifest;
  /** True when an up-to-date artifact was already there. */
  readonly skipped: boolean;
  readonly ms: number;
  /** Checkpoint tensor bytes read by the conversion (0 when skipped). */
  readonly sourceBytes: number;
  readonly convertMs: number;
}

/** A file-name-safe stem. */
export function artifactSlug(name: string): string {
  return (
    name
      .replace(/^.*\//, "")
      .replace(/[^A-Za-z0-9._-]+/g, "-")
      .replace(/^[-.]+|[-.]+$/g, "") || "model"
  );
}

/** The default artifact folder name for a source and quantization (`Llama-4-Scout-17B-16E-Instruct-q8_0`). */
export function defaultArtifactName(sourceId: string, quant: CompileQuant): string {
  return `${artifactSlug(sourceId)}-${quant.toLowerCase()}`;
}

async function fingerprintSource(
  dir: string,
  ckpt: SafetensorsCheckpoint,
  source: CompileSource,
): Promise<{ files: SourceFile[]; keyParts: unknown[] }> {
  const files: SourceFile[] = [];
  const keyParts: unknown[] = [];
  for (const name of CHECKPOINT_SMALL_FILES) {
    let bytes: number;
    try {
      const s = await stat(join(dir, name));
      if (!s.isFile()) continue;
      bytes = s.size;
    } catch {
      continue;
    }
    const sha256 = source.knownSha256?.get(name) ?? (await sha256File(join(dir, name)));
    files.push({ path: name, bytes, sha256 });
    keyParts.push([name, sha256]);
  }
  for (const w of ckpt.files) {
    const headerSha256 = sha256Of(w.headerBytes);
    const known = source.knownSha256?.get(w.path);
    files.push({ path: w.path, bytes: w.bytes, headerSha256, ...(known ? { sha256: known } : {}) });
    // Without a content hash, the weights' identity is their header, size and modification time.
    const mtimeMs = known ? null : (await stat(join(dir, w.path))).mtimeMs;
    keyParts.push([w.path, w.bytes, headerSha256, known ?? mtimeMs]);
  }
  return { files, keyParts };
}

/** Float type to convert to: the final type, or a lossless intermediate for llama_model_quantize. */
function convertType(quant: CompileQuant, sourceDtypes: Set<string>): OutFloatType {
  if (quant === "F32") return GgmlType.F32;
  if (quant === "F16") return GgmlType.F16;
  if (quant === "BF16") return GgmlType.BF16;
  if (sourceDtypes.size === 1 && sourceDtypes.has("BF16")) return GgmlType.BF16;
  if (sourceDtypes.size === 1 && sourceDtypes.has("F16")) return GgmlType.F16;
  return GgmlType.F32;
}

function mmprojType(quant: CompileQuant): OutFloatType {
  return quant === "F32" ? GgmlType.F32 : quant === "BF16" ? GgmlType.BF16 : GgmlType.F16;
}

/** Everything known about the inputs before any weight is read. */
interface Inputs {
  readonly dir: string;
  readonly source: CompileSource;
  readonly config: Awaited<ReturnType<typeof readCheckpointConfig>>;
  readonly hparams: ReturnType<typeof textHparams>;
  readonly name: string;
  readonly sourceFiles: SourceFile[];
  readonly textDtypes: Set<string>;
  readonly hasVision: boolean;
  readonly dataBytes: number;
  readonly inputKey: string;
  readonly llama: { release: string; version: string };
}

/** Step 1: configs, safetensors headers, fingerprint and input key (no weights read). */
async function inspectInputs(srcDir: string, opts: CompileOptions): Promise<Inputs> {
  const dir = resolve(srcDir);
  const source: CompileSource = opts.source ?? { id: dir, kind: "local", revision: null };
  const config = await readCheckpointConfig(dir);
  const hparams = textHparams(config);
  const name = opts.name ?? (source.kind === "hub" ? source.id : basename(dir));
  const ckpt = await SafetensorsCheckpoint.open(dir);
  try {
    const fp = await fingerprintSource(dir, ckpt, source);
    const all = [...ckpt.tensors];
    const textDtypes = new Set(
      all.filter((t) => !t.name.startsWith("vision_model.") && !t.name.startsWith("multi_modal_projector.")).map((t) => t.dtype),
    );
    const hasVision = opts.vision !== false && config.vision !== null && all.some((t) => t.name.startsWith("vision_model."));
    const llama = llamaCppVersion();
    const isQuantized = opts.quant === "Q8_0" || opts.quant === "Q4_K_M";
    const inputKey = sha256Of(
      JSON.stringify({
        compiler: COMPILER_VERSION,
        quant: opts.quant,
        name,
        tokenizerPre: opts.tokenizerPre ?? null,
        vision: hasVision,
        // Quantized bytes come from llama.cpp's quantizer: a different build may differ.
        quantizer: isQuantized ? llama.release : null,
        source: fp.keyParts,
      }),
    );
    return { dir, source, config, hparams, name, sourceFiles: fp.files, textDtypes, hasVision, dataBytes: ckpt.dataBytes, inputKey, llama };
  } finally {
    await ckpt.close();
  }
}

/** Step 2: convert (and quantize) into `outDir`; returns the files written, by role. */
async function buildOutputs(
  inp: Inputs,
  outDir: string,
  opts: CompileOptions,
): Promise<{ outputs: Array<[string, ArtifactFile["role"]]>; conv: ConvertResult }> {
  const progress = opts.onProgress ?? (() => {});
  const slug = artifactSlug(inp.name);
  const isQuantized = opts.quant === "Q8_0" || opts.quant === "Q4_K_M";
  const textFile = `${slug}-${opts.quant}.gguf`;
  const mmFile = inp.hasVision ? `mmproj-${slug}-${GgmlType[mmprojType(opts.quant)]}.gguf` : null;
  const convertTarget = isQuantized ? join(outDir, `.${textFile}.${process.pid}.intermediate.gguf`) : join(outDir, textFile);
  const tmpMm = mmFile ? join(outDir, `.${mmFile}.${process.pid}.tmp`) : null;
  let readBytes = 0;
  let conv: ConvertResult;
  try {
    conv = await convertCheckpoint(inp.dir, convertTarget, tmpMm, {
      ftype: convertType(opts.quant, inp.textDtypes),
      mmprojFtype: mmprojType(opts.quant),
      name: inp.name,
      tokenizerPre: opts.tokenizerPre,
      vision: inp.hasVision,
      onRead: (n) => {
        readBytes += n;
        progress({ phase: "convert", bytes: readBytes, totalBytes: inp.dataBytes });
      },
    });
    if (tmpMm && mmFile) await rename(tmpMm, join(outDir, mmFile));
  } catch (err) {
    await unlink(convertTarget).catch(() => {});
    if (tmpMm) await unlink(tmpMm).catch(() => {});
    throw err;
  }
  if (isQuantized) {
    progress({ phase: "quantize", message: `llama_model_quantize → ${opts.quant}` });
    try {
      await quantizeModel(convertTarget, join(outDir, textFile), opts.quant as "Q8_0" | "Q4_K_M", { nThreads: opts.threads });
    } finally {
      await unlink(convertTarget).catch(() => {});
    }
  }
  const outputs: Array<[string, ArtifactFile["role"]]> = [[textFile, "model"]];
  if (mmFile) outputs.push([mmFile, "mmproj"]);
  return { outputs, conv };
}

/** Step 3: size, sha256 and type of every output; the text model's parameter count. */
async function describeOutputs(
  outDir: string,
  outputs: Array<[string, ArtifactFile["role"]]>,
  quant: CompileQuant,
  progress: (p: CompileProgress) => void,
): Promise<{ files: ArtifactFile[]; parameters: number }> {
  const totalBytes = (await Promise.all(outputs.map(async ([f]) => (await stat(join(outDir, f))).size))).reduce((a, b) => a + b, 0);
  const files: ArtifactFile[] = [];
  let hashed = 0;
  let parameters = 0;
  for (const [file, role] of outputs) {
    const p = join(outDir, file);
    const sha256 = await sha256File(p, (n) => {
      hashed += n;
      progress({ phase: "hash", bytes: hashed, totalBytes });
    });
    const header = await readGgufHeader(p);
    if (role === "model") parameters = header.tensors.reduce((n, t) => n + t.shape.reduce((a, b) => a * b, 1), 0);
    files.push({ path: file, role, bytes: (await stat(p)).size, sha256, type: role === "model" ? quant : GgmlType[mmprojType(quant)]! });
  }
  return { files, parameters };
}

function generationDefaults(config: Inputs["config"]): Record<string, number> {
  const g = config.generation;
  const out: Record<string, number> = {};
  if (g?.temperature !== undefined) out.temperature = g.temperature;
  if (g?.topP !== undefined) out.top_p = g.topP;
  if (g?.topK !== undefined) out.top_k = g.topK;
  if (g?.minP !== undefined) out.min_p = g.minP;
  if (g?.repetitionPenalty !== undefined) out.repetition_penalty = g.repetitionPenalty;
  return out;
}

/** Compiles checkpoint folder `srcDir` into artifact folder `outDir` (see the module doc). */
export async function compileCheckpoint(srcDir: string, outDir: string, opts: CompileOptions): Promise<CompileResult> {
  const t0 = performance.now();
  const progress = opts.onProgress ?? (() => {});
  progress({ phase: "fingerprint" });
  const inp = await inspectInputs(srcDir, opts);

  await mkdir(outDir, { recursive: true });
  const existing = await readManifest(outDir).catch(() => null);
  if (!opts.force && existing?.inputKey === inp.inputKey) {
    try {
      const manifest = await verifyArtifact(outDir, "size");
      progress({ phase: "skip", message: `${outDir} is up to date (manifest input key matches)` });
      return { outDir, manifest, skipped: true, ms: performance.now() - t0, sourceBytes: 0, convertMs: 0 };
    } catch {
      /* damaged: rebuild below */
    }
  }
  // No manifest while the folder is being rewritten: readers never pair a manifest with new data.
  await unlink(join(outDir, MANIFEST_FILE)).catch(() => {});

  const tConvert = performance.now();
  const { outputs, conv } = await buildOutputs(inp, outDir, opts);
  const convertMs = performance.now() - tConvert;
  const { files, parameters } = await describeOutputs(outDir, outputs, opts.quant, progress);
  await removeStaleOutputs(outDir, existing, new Set(files.map((f) => f.path)));

  const h = inp.hparams;
  const manifest: ArtifactManifest = {
    format: MANIFEST_FORMAT,
    formatVersion: MANIFEST_FORMAT_VERSION,
    kind: "herd",
    source: {
      id: inp.source.id,
      kind: inp.source.kind,
      revision: inp.source.revision,
      configSha256: inp.sourceFiles.find((f) => f.path === "config.json")?.sha256 ?? "",
      files: inp.sourceFiles,
    },
    quantization: opts.quant,
    inputKey: inp.inputKey,
    compiler: { version: COMPILER_VERSION, tokenizerPre: conv.tokenizer.pre, vision: inp.hasVision },
    herdVersion: HERD_VERSION,
    llamaCpp: inp.llama,
    createdAt: new Date().toISOString(),
    model: {
      architecture: h.arch,
      hfArchitecture: inp.config.architecture,
      name: inp.name,
      contextLength: h.contextLength,
      vocabSize: h.vocabSize,
      parameters,
      stopTokenIds: conv.tokenizer.stopTokenIds,
      chatTemplateSource: conv.tokenizer.chatTemplateSource,
      generation: generationDefaults(inp.config),
    },
    files,
  };
  await writeManifest(outDir, manifest);
  progress({ phase: "done" });
  return { outDir, manifest, skipped: false, ms: performance.now() - t0, sourceBytes: conv.sourceBytes, convertMs };
}

/** Deletes GGUF files an earlier manifest listed that the new one does not, and our temp files. */
async function removeStaleOutputs(outDir: string, previous: ArtifactManifest | null, keep: Set<string>): Promise<void> {
  for (const f of previous?.files ?? []) if (!keep.has(f.path)) await rm(join(outDir, f.path), { force: true });
  for (const n of await readdir(outDir)) {
    if (n.startsWith(".") && (n.endsWith(".tmp") || n.endsWith(".intermediate.gguf")) && n.includes(`.${process.pid}.`))
      await rm(join(outDir, n), { force: true });
  }
}
