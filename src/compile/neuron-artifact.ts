/**
 * Neuron compiled artifacts as herd artifacts. NxD Inference (and vLLM-neuron, which compiles
 * through it into `NEURON_COMPILED_ARTIFACTS`) writes a folder holding `neuron_config.json` (the
 * whole `InferenceConfig`: HF fields plus `neuron_config`, and for Llama 4 `text_config` /
 * `vision_config` with their own), `model.pt` (the traced graphs, NEFFs inside) and, with
 * `save_sharded_checkpoint`, `weights/tp<rank>_sharded_checkpoint.safetensors`. It writes no manifest
 * and no SDK version.
 *
 * herd describes such a folder itself, beside the data:
 *
 * 1. `herd-compile.env`: the compile settings as `HERD_NEURON_*=value` lines, for shells (the chart's
 *    staging script and the vLLM pod compare TP degree and sequence length with theirs);
 * 2. `SHA256SUMS`: every data file and `herd-compile.env`, in `sha256sum -c` format (tools without herd
 *    verify with coreutils);
 * 3. `herd-manifest.json` (`kind: "neuron"`), last: every file above with size and sha256, and the
 *    settings read from `neuron_config.json`.
 *
 * The chart's compile Job writes the same three files with `deploy/helm/herd/files/neuron-manifest.py`
 * (the serving image has python3, not herd); a test holds both writers to one reader.
 * @module
 */
import { readdir, readFile, rename, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { HERD_VERSION } from "../common/version.js";
import {
  MANIFEST_FILE,
  MANIFEST_FORMAT,
  MANIFEST_FORMAT_VERSION,
  sha256File,
  writeManifest,
  type NeuronArtifactFile,
  type NeuronArtifactManifest,
  type NeuronCompileSettings,
} from "./manifest.js";

export const SHA256SUMS_FILE = "SHA256SUMS";
export const COMPILE_ENV_FILE = "herd-compile.env";
/** Written by a complete, verified staging (the chart's script or `herd artifacts pull`): the manifest's sha256. */
export const STAGED_MARKER = ".herd-staged";
export const NEURON_CONFIG_FILE = "neuron_config.json";
/** Where the chart's staging script downloads before it verifies and moves files into place. */
export const STAGING_DIR = ".staging";

/** Names at the folder's root that are herd's, never the artifact's data. */
const RESERVED_AT_ROOT = new Set([MANIFEST_FILE, SHA256SUMS_FILE, COMPILE_ENV_FILE, STAGED_MARKER, STAGING_DIR]);
/** herd's own temp files (manifest writes, interrupted pulls) anywhere in the folder. */
const HERD_TEMP = /^\.herd-manifest\.json\..*\.tmp$|^\.(SHA256SUMS|herd-compile\.env)\..*\.tmp$|\.part(\.json)?$/;

export class NeuronArtifactError extends Error {
  override readonly name = "NeuronArtifactError";
}

export interface NeuronFolderScan {
  /** Data files, sorted by path. */
  readonly files: readonly { path: string; bytes: number }[];
  /** Why the folder looks like Neuron compiler output, or null when it does not. */
  readonly evidence: string | null;
}

/** Lists the data files of `dir` (nested, sorted) and says whether it looks like a Neuron compiled folder. */
export async function scanNeuronFolder(dir: string): Promise<NeuronFolderScan> {
  const files: { path: string; bytes: number }[] = [];
  const walk = async (rel: string): Promise<void> => {
    const entries = await readdir(join(dir, rel), { withFileTypes: true });
    for (const e of entries) {
      const path = rel ? `${rel}/${e.name}` : e.name;
      if ((!rel && RESERVED_AT_ROOT.has(e.name)) || HERD_TEMP.test(e.name)) continue;
      const s = await stat(join(dir, path));
      if (s.isDirectory()) {
        if (e.isSymbolicLink()) throw new NeuronArtifactError(`${join(dir, path)} is a link to a folder; herd does not follow them`);
        await walk(path);
      } else if (s.isFile()) files.push({ path, bytes: s.size });
      else throw new NeuronArtifactError(`${join(dir, path)} is neither a file nor a folder`);
    }
  };
  await walk("");
  files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const has = (p: string) => files.some((f) => f.path === p);
  const evidence = has(NEURON_CONFIG_FILE)
    ? `${NEURON_CONFIG_FILE}${has("model.pt") ? " and model.pt" : ""} (NxD Inference / vLLM-neuron)`
    : files.some((f) => f.path.endsWith(".neff"))
      ? "*.neff files (Neuron compiler output)"
      : null;
  return { files, evidence };
}

const posInt = (v: unknown): number | null => (typeof v === "number" && Number.isInteger(v) && v > 0 ? v : null);
const intList = (v: unknown): number[] | null => (Array.isArray(v) && v.length > 0 && v.every((x) => posInt(x) !== null) ? v : null);

/** The compile settings in a parsed `neuron_config.json` (top-level `neuron_config`, else the text model's). */
export function neuronSettingsFrom(config: unknown, sdk: Readonly<Record<string, string>> = {}): NeuronCompileSettings {
  const c = (config ?? {}) as { neuron_config?: Record<string, unknown>; text_config?: { neuron_config?: Record<string, unknown> } };
  const nc = c.neuron_config ?? c.text_config?.neuron_config ?? {};
  return {
    tpDegree: posInt(nc["tp_degree"]),
    seqLen: posInt(nc["seq_len"]),
    maxContextLength: posInt(nc["max_context_length"]),
    batchSize: posInt(nc["batch_size"]),
    contextEncodingBuckets: intList(nc["context_encoding_buckets"]),
    tokenGenerationBuckets: intList(nc["token_generation_buckets"]),
    torchDtype: typeof nc["torch_dtype"] === "string" ? nc["torch_dtype"] : null,
    logicalNcConfig: posInt(nc["logical_nc_config"]) ?? posInt(nc["logical_neuron_cores"]),
    sdk,
  };
}

/** `herd-compile.env`: one `HERD_NEURON_*=value` line per known setting (digits or a plain token only). */
export function renderCompileEnv(s: NeuronCompileSettings, model: string | null): string {
  const lines = ["# Compile settings of this Neuron artifact, written by herd (herd-manifest.json has the rest)."];
  const put = (k: string, v: number | string | null) => {
    if (v !== null && /^[A-Za-z0-9._:/+-]+$/.test(String(v))) lines.push(`HERD_NEURON_${k}=${v}`);
  };
  put("TP_DEGREE", s.tpDegree);
  put("SEQ_LEN", s.seqLen);
  put("MAX_CONTEXT_LENGTH", s.maxContextLength);
  put("BATCH_SIZE", s.batchSize);
  put("LOGICAL_NC_CONFIG", s.logicalNcConfig);
  put("TORCH_DTYPE", s.torchDtype);
  put("MODEL", model);
  return `${lines.join("\n")}\n`;
}

/** `SHA256SUMS` in coreutils' text format (`<sha256>  <path>`), sorted by path. */
export function renderSha256Sums(files: readonly NeuronArtifactFile[]): string {
  return [...files]
    .sort((a, b) => (a.path < b.path ? -1 : 1))
    .map((f) => `${f.sha256}  ${f.path}\n`)
    .join("");
}

async function writeAtomic(dir: string, name: string, text: string): Promise<void> {
  const tmp = join(dir, `.${name}.${process.pid}.tmp`);
  await writeFile(tmp, text);
  await rename(tmp, join(dir, name));
}

export interface DescribeNeuronOptions {
  /** Describe the folder even when nothing in it looks like Neuron compiler output (`--kind neuron`). */
  readonly force?: boolean;
  readonly onBytes?: (n: number) => void;
  /** Model id to record when `neuron_config.json` has no `_name_or_path`. */
  readonly model?: string;
}

/**
 * Writes `herd-compile.env`, `SHA256SUMS` and `herd-manifest.json` (kind neuron, last) for the
 * Neuron compiled folder `dir`, hashing every file. Refuses a folder that does not look like one
 * unless `force`.
 */
export async function describeNeuronArtifact(dir: string, opts: DescribeNeuronOptions = {}): Promise<NeuronArtifactManifest> {
  const scan = await scanNeuronFolder(dir);
  if (!scan.evidence && !opts.force)
    throw new NeuronArtifactError(
      `${dir} is not a compiled artifact herd knows: it has no ${MANIFEST_FILE} (herd compile writes one) and no ` +
        `${NEURON_CONFIG_FILE} or *.neff file of a Neuron compiled folder (NxD Inference / vLLM-neuron output). ` +
        `Pass --kind neuron to describe and push it as a Neuron artifact anyway.`,
    );
  if (scan.files.length === 0) throw new NeuronArtifactError(`${dir} has no files to describe`);
  const odd = scan.files.find((f) => /[\\\n\r]/.test(f.path));
  if (odd) throw new NeuronArtifactError(`${join(dir, odd.path)}: a backslash or line break in a file name cannot be listed in SHA256SUMS`);

  let config: Record<string, unknown> = {};
  if (scan.files.some((f) => f.path === NEURON_CONFIG_FILE)) {
    const where = join(dir, NEURON_CONFIG_FILE);
    try {
      config = JSON.parse(await readFile(where, "utf8")) as Record<string, unknown>;
    } catch (err) {
      throw new NeuronArtifactError(`${where} is not valid JSON (${(err as Error).message})`);
    }
  }
  const settings = neuronSettingsFrom(config);
  const model = typeof config["_name_or_path"] === "string" && config["_name_or_path"] ? config["_name_or_path"] : (opts.model ?? null);

  const data: NeuronArtifactFile[] = [];
  for (const f of scan.files) data.push({ ...f, sha256: await sha256File(join(dir, f.path), opts.onBytes) });
  const described = async (name: string, text: string): Promise<NeuronArtifactFile> => {
    await writeAtomic(dir, name, text);
    return { path: name, bytes: Buffer.byteLength(text), sha256: await sha256File(join(dir, name)) };
  };
  const env = await described(COMPILE_ENV_FILE, renderCompileEnv(settings, model));
  const sums = await described(SHA256SUMS_FILE, renderSha256Sums([...data, env]));
  const manifest: NeuronArtifactManifest = {
    format: MANIFEST_FORMAT,
    formatVersion: MANIFEST_FORMAT_VERSION,
    kind: "neuron",
    createdBy: `herd ${HERD_VERSION}`,
    createdAt: new Date().toISOString(),
    model,
    neuron: settings,
    files: [...data, env, sums],
  };
  await writeManifest(dir, manifest);
  return manifest;
}
