/**
 * `herd artifacts push DIR LOCATION` / `pull LOCATION DIR` / `verify DIR` / `show LOCATION`:
 * moving compiled artifacts between local folders and blob stores (a folder, or
 * `s3://bucket/prefix` on S3 or an S3-compatible store), with progress, resume and sha256 checks.
 * Both kinds: herd (GGUF) artifacts, and Neuron compiled folders (NxD Inference / vLLM-neuron), which
 * `push` describes with a manifest of herd's when they have none. The S3 flags are shared with
 * `herd compile` and `herd serve`.
 * @module
 */
import { type Command, Option } from "commander";
import { resolve } from "node:path";
import { defaultArtifactCacheDir, pullArtifact, pushArtifact, readRemoteManifest, resolveServeModel } from "../../compile/artifacts.js";
import {
  ARTIFACT_KINDS,
  type AnyArtifactManifest,
  type ArtifactKind,
  readAnyManifest,
  VERIFY_MODES,
  verifyAnyArtifact,
  type VerifyMode,
} from "../../compile/manifest.js";
import { type EnvSource, processEnv } from "../../config/env.js";
import { S3_OPTIONS, type ServeConfig } from "../../config/serve-config.js";
import { createByteProgress, formatBytes } from "../../storage/progress.js";
import { isS3Url, resolveS3Settings, type S3Settings } from "../../storage/store-url.js";
import { addTableOptions } from "../options.js";

export interface S3CliOptions {
  s3Endpoint?: string;
  s3Region?: string;
  s3ForcePathStyle?: boolean;
  s3Checksum?: string;
  partSize?: string;
  concurrency?: string;
  progress?: boolean;
}

/** Adds the S3 / transfer flags (the option table's `S3_OPTIONS`, as `herd serve` has them) to `cmd`. */
export function addS3Options(cmd: Command): Command {
  return addTableOptions(cmd, S3_OPTIONS);
}

export function s3SettingsFrom(opts: S3CliOptions, env: EnvSource = processEnv()): S3Settings {
  const base = resolveS3Settings(
    { endpoint: opts.s3Endpoint, region: opts.s3Region, forcePathStyle: opts.s3ForcePathStyle, checksum: opts.s3Checksum },
    env,
  );
  return { ...base, ...(opts.partSize ? { partBytes: Math.round(Number(opts.partSize) * 1024 * 1024) } : {}) };
}

function transferTuning(opts: S3CliOptions): { partBytes?: number; concurrency?: number } {
  const out: { partBytes?: number; concurrency?: number } = {};
  if (opts.partSize !== undefined) {
    const mib = Number(opts.partSize);
    if (!(mib > 0)) throw new Error(`--part-size must be a positive number of MiB (got ${opts.partSize})`);
    out.partBytes = Math.round(mib * 1024 * 1024);
  }
  if (opts.concurrency !== undefined) {
    const n = Number(opts.concurrency);
    if (!Number.isInteger(n) || n < 1 || n > 64) throw new Error(`--concurrency must be 1..64 (got ${opts.concurrency})`);
    out.concurrency = n;
  }
  return out;
}

const rate = (bytes: number, ms: number) => `${formatBytes(bytes / Math.max(ms / 1000, 1e-3))}/s`;

/** One line on what an artifact is: kind, and for Neuron the compile settings it records. */
export function describeManifest(m: AnyArtifactManifest): string {
  if (m.kind !== "neuron") return `herd artifact: ${m.quantization}, from ${m.source.id}`;
  const n = m.neuron;
  const known = (v: unknown) => (v === null ? "?" : Array.isArray(v) ? v.join(",") : String(v));
  const sdk = Object.entries(n.sdk).map(([k, v]) => `, ${k} ${v}`);
  return (
    `Neuron artifact${m.model ? ` of ${m.model}` : ""}: TP ${known(n.tpDegree)}, seq len ${known(n.seqLen)}, ` +
    `batch ${known(n.batchSize)}, context buckets ${known(n.contextEncodingBuckets)}${sdk.join("")}`
  );
}

/** Up to four names, else a count. */
const fileList = (names: readonly string[]) => (names.length <= 4 ? names.join(", ") : `${names.length} files`);

async function pushCommand(dir: string, location: string, opts: S3CliOptions & { kind?: ArtifactKind }): Promise<void> {
  const enabled = opts.progress === false ? false : undefined;
  let hashBar: ReturnType<typeof createByteProgress> | null = null;
  const bar = createByteProgress("push", 0, { enabled });
  const r = await pushArtifact(resolve(dir), location, {
    s3: s3SettingsFrom(opts),
    kind: opts.kind,
    onHashed: (n) => (hashBar ??= createByteProgress("hash", 0, { enabled })).tick(n),
    onTotal: (n) => {
      (hashBar as ReturnType<typeof createByteProgress> | null)?.stop();
      bar.setTotal(n);
    },
    onProgress: (n) => bar.tick(n),
  });
  bar.stop();
  const s = r.sync;
  console.log(
    `pushed ${dir} → ${r.location}: ${s.transferredFiles.length} file(s), ` +
      `${formatBytes(s.transferredBytes)} in ${(r.ms / 1000).toFixed(1)} s (${rate(s.transferredBytes, r.ms)})` +
      (s.skippedFiles.length ? `; already there: ${fileList(s.skippedFiles)}` : "") +
      `\n  ${describeManifest(r.manifest)}`,
  );
}

async function pullCommand(location: string, dir: string, opts: S3CliOptions): Promise<void> {
  const bar = createByteProgress("pull", 0, { enabled: opts.progress === false ? false : undefined });
  const r = await pullArtifact(location, resolve(dir), {
    s3: s3SettingsFrom(opts),
    ...transferTuning(opts),
    onTotal: (n) => bar.setTotal(n),
    onProgress: (n) => bar.tick(n),
  });
  bar.stop();
  const s = r.sync;
  console.log(
    `pulled ${r.location} → ${dir}: ${s.transferredFiles.length} file(s), ` +
      `${formatBytes(s.transferredBytes)} in ${(r.ms / 1000).toFixed(1)} s (${rate(s.transferredBytes, r.ms)}), ` +
      `every file sha256-verified` +
      (s.resumedBytes ? `; resumed ${formatBytes(s.resumedBytes)} from an interrupted pull` : "") +
      (s.skippedFiles.length ? `; already present: ${fileList(s.skippedFiles)}` : "") +
      `\n  ${describeManifest(r.manifest)}`,
  );
}

async function verifyCommand(dir: string, mode: VerifyMode, opts: S3CliOptions): Promise<void> {
  const m = await readAnyManifest(dir);
  const bar = createByteProgress("verify", mode === "full" && m ? m.files.reduce((n, f) => n + f.bytes, 0) : 0, {
    enabled: opts.progress === false || mode !== "full" ? false : undefined,
  });
  const manifest = await verifyAnyArtifact(resolve(dir), mode, (n) => bar.tick(n));
  bar.stop();
  const bytes = manifest.files.reduce((n, f) => n + f.bytes, 0);
  console.log(
    `${dir}: ok (${mode}) — ` +
      (manifest.files.length <= 4
        ? manifest.files.map((f) => `${f.path} ${formatBytes(f.bytes)}`).join(", ")
        : `${manifest.files.length} files, ${formatBytes(bytes)}`) +
      `\n  ${describeManifest(manifest)}`,
  );
}

async function showCommand(location: string, opts: S3CliOptions): Promise<void> {
  const m = isS3Url(location) ? await readRemoteManifest(location, s3SettingsFrom(opts)) : await readAnyManifest(resolve(location));
  if (!m) throw new Error(`${location} has no herd-manifest.json`);
  console.log(JSON.stringify(m, null, 2));
}

/** What `withServeModel` needs of the serve config. */
export type ServeModelConfig = Pick<
  ServeConfig,
  | "model"
  | "mmproj"
  | "verify"
  | "artifacts"
  | "artifactCache"
  | "s3Endpoint"
  | "s3Region"
  | "s3ForcePathStyle"
  | "s3Checksum"
  | "partSize"
  | "concurrency"
  | "progress"
>;

/**
 * `config` with its `model` (a GGUF file, an artifact folder, s3://…, or a name under
 * `--artifacts`) replaced by the GGUF to load, after pulling and verifying as needed, and `mmproj`
 * set to the artifact's vision projector unless one was given. `env` gives the S3 credentials.
 */
export async function withServeModel<T extends ServeModelConfig>(config: T, env: EnvSource = processEnv()): Promise<T> {
  if (config.model === null) return config;
  const partBytes = config.partSize * 1024 * 1024;
  const s3 = resolveS3Settings(
    {
      endpoint: config.s3Endpoint ?? undefined,
      region: config.s3Region ?? undefined,
      forcePathStyle: config.s3ForcePathStyle ?? undefined,
      checksum: config.s3Checksum ?? undefined,
    },
    env,
  );
  let bar: ReturnType<typeof createByteProgress> | null = null;
  const m = await resolveServeModel(config.model, {
    verify: config.verify,
    artifacts: config.artifacts ?? undefined,
    cacheDir: config.artifactCache ?? defaultArtifactCacheDir(),
    s3: { ...s3, partBytes },
    partBytes,
    concurrency: config.concurrency,
    onTotal: (phase, n) => {
      bar?.stop();
      bar = n > 0 ? createByteProgress(phase, n, { enabled: config.progress ? undefined : false }) : null;
    },
    onProgress: (_phase, n) => bar?.tick(n),
    log: (msg) => process.stderr.write(`${msg}\n`),
  });
  (bar as ReturnType<typeof createByteProgress> | null)?.stop();
  // An explicit --mmproj wins over the artifact's own projector.
  return { ...config, model: m.ggufPath, ...(m.mmprojPath && !config.mmproj ? { mmproj: m.mmprojPath } : {}) };
}

export function register(program: Command): void {
  const cmd = program.command("artifacts").description("move compiled artifacts between folders and S3 (push, pull, verify, show)");
  addS3Options(
    cmd
      .command("push")
      .description(
        "upload an artifact folder (verified first) to a folder or s3://bucket/prefix; " +
          "unchanged files are skipped, the manifest goes last. A Neuron compiled folder (NxD Inference / vLLM-neuron) " +
          "without a manifest gets one first, with SHA256SUMS and herd-compile.env",
      )
      .argument("<dir>", "artifact folder (from herd compile, or Neuron compiler output)")
      .argument("<location>", "destination: s3://bucket/prefix or a folder")
      .addOption(
        new Option("--kind <kind>", "what the folder must be; neuron: describe a folder without a manifest as a Neuron artifact").choices(
          ARTIFACT_KINDS,
        ),
      ),
  ).action((dir: string, location: string, opts: S3CliOptions & { kind?: ArtifactKind }) => pushCommand(dir, location, opts));
  addS3Options(
    cmd
      .command("pull")
      .description("download an artifact (parallel ranges, resumable, every byte checked against the manifest)")
      .argument("<location>", "source: s3://bucket/prefix or a folder")
      .argument("<dir>", "local artifact folder"),
  ).action((location: string, dir: string, opts: S3CliOptions) => pullCommand(location, dir, opts));
  addS3Options(
    cmd
      .command("verify")
      .description("check an artifact folder against its manifest")
      .argument("<dir>", "artifact folder")
      .addOption(
        new Option("--verify <mode>", "full: sha256 of every byte; size: sizes only")
          .choices(VERIFY_MODES.filter((m) => m !== "none"))
          .default("full"),
      ),
  ).action((dir: string, opts: S3CliOptions & { verify: VerifyMode }) => verifyCommand(dir, opts.verify, opts));
  addS3Options(
    cmd.command("show").description("print an artifact's manifest").argument("<location>", "artifact folder or s3://bucket/prefix"),
  ).action((location: string, opts: S3CliOptions) => showCommand(location, opts));
}
