/**
 * `herd artifacts push DIR LOCATION` / `pull LOCATION DIR` / `verify DIR` / `show LOCATION`:
 * moving compiled artifacts between local folders and blob stores (a folder, or
 * `s3://bucket/prefix` on S3 or an S3-compatible store), with progress, resume and sha256 checks.
 * The S3 flags are shared with `herd compile` and `herd serve`.
 * @module
 */
import { type Command, Option } from "commander";
import { resolve } from "node:path";
import { defaultArtifactCacheDir, pullArtifact, pushArtifact, readRemoteManifest, resolveServeModel } from "../../compile/artifacts.js";
import { readManifest, VERIFY_MODES, verifyArtifact, type VerifyMode } from "../../compile/manifest.js";
import { type EnvSource, getEnv, processEnv } from "../../config/env.js";
import { createByteProgress, formatBytes } from "../../storage/progress.js";
import { isS3Url, resolveS3Settings, type S3Settings } from "../../storage/store-url.js";
import { S3_CHECKSUM_MODES } from "../../storage/s3-store.js";

export interface S3CliOptions {
  s3Endpoint?: string;
  s3Region?: string;
  s3ForcePathStyle?: boolean;
  s3Checksum?: string;
  partSize?: string;
  concurrency?: string;
  progress?: boolean;
}

/** Adds the S3 / transfer flags to `cmd`. */
export function addS3Options(cmd: Command): Command {
  return cmd
    .option("--s3-endpoint <url>", "S3-compatible endpoint [env AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL]")
    .option("--s3-region <region>", "S3 region [env AWS_REGION, AWS_DEFAULT_REGION] (default: us-east-1)")
    .option("--s3-force-path-style", "path-style S3 URLs [env HERD_S3_FORCE_PATH_STYLE] (default: on with a custom endpoint)")
    .addOption(
      new Option(
        "--s3-checksum <mode>",
        "request checksums: when_required suits S3-compatible stores, when_supported is the AWS SDK default [env HERD_S3_CHECKSUM]",
      ).choices([...S3_CHECKSUM_MODES]),
    )
    .option("--part-size <MiB>", "multipart / ranged-download part size in MiB (default 16)")
    .option("--concurrency <n>", "parallel ranged downloads (default 4)")
    .option("--no-progress", "no progress bar");
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

export async function pushCommand(dir: string, location: string, opts: S3CliOptions): Promise<void> {
  const bar = createByteProgress("push", 0, { enabled: opts.progress === false ? false : undefined });
  const r = await pushArtifact(resolve(dir), location, {
    s3: s3SettingsFrom(opts),
    onTotal: (n) => bar.setTotal(n),
    onProgress: (n) => bar.tick(n),
  });
  bar.stop();
  const s = r.sync;
  console.log(
    `pushed ${dir} → ${r.location}: ${s.transferredFiles.length} file(s), ${formatBytes(s.transferredBytes)} in ${(r.ms / 1000).toFixed(1)} s (${rate(s.transferredBytes, r.ms)})` +
      (s.skippedFiles.length ? `; already there: ${s.skippedFiles.join(", ")}` : ""),
  );
}

export async function pullCommand(location: string, dir: string, opts: S3CliOptions): Promise<void> {
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
    `pulled ${r.location} → ${dir}: ${s.transferredFiles.length} file(s), ${formatBytes(s.transferredBytes)} in ${(r.ms / 1000).toFixed(1)} s (${rate(s.transferredBytes, r.ms)}), every file sha256-verified` +
      (s.resumedBytes ? `; resumed ${formatBytes(s.resumedBytes)} from an interrupted pull` : "") +
      (s.skippedFiles.length ? `; already present: ${s.skippedFiles.join(", ")}` : ""),
  );
}

export async function verifyCommand(dir: string, mode: VerifyMode, opts: S3CliOptions): Promise<void> {
  const m = await readManifest(dir);
  const bar = createByteProgress("verify", mode === "full" && m ? m.files.reduce((n, f) => n + f.bytes, 0) : 0, {
    enabled: opts.progress === false || mode !== "full" ? false : undefined,
  });
  const manifest = await verifyArtifact(resolve(dir), mode, (n) => bar.tick(n));
  bar.stop();
  console.log(`${dir}: ok (${mode}) — ${manifest.files.map((f) => `${f.path} ${formatBytes(f.bytes)}`).join(", ")}`);
}

export async function showCommand(location: string, opts: S3CliOptions): Promise<void> {
  const m = isS3Url(location) ? await readRemoteManifest(location, s3SettingsFrom(opts)) : await readManifest(resolve(location));
  if (!m) throw new Error(`${location} has no herd-manifest.json`);
  console.log(JSON.stringify(m, null, 2));
}

/** Flags `herd serve` adds for compiled artifacts (`--verify`, `--artifacts`, `--artifact-cache`, S3). */
export function addServeModelOptions(cmd: Command): Command {
  cmd
    .addOption(
      new Option(
        "--verify <mode>",
        "check an artifact folder against its manifest before loading: full (sha256), size, none [env HERD_VERIFY]",
      ).choices([...VERIFY_MODES]),
    )
    .option(
      "--artifacts <root>",
      "artifact root (folder or s3://bucket/prefix) that a bare --model name is looked up in [env HERD_ARTIFACTS]",
    )
    .option("--artifact-cache <dir>", "where s3:// artifacts are pulled to [env HERD_ARTIFACT_CACHE] (default: ~/.cache/herd/artifacts)");
  return addS3Options(cmd);
}

/**
 * `config` with its `model` (a GGUF file, an artifact folder, s3://…, or a name under
 * `--artifacts`) replaced by the GGUF to load, after pulling and verifying as needed, and `mmproj`
 * set to the artifact's vision projector unless one was given.
 */
export async function withServeModel<T extends { readonly model: string | null }>(
  config: T,
  flags: object,
  env: EnvSource = processEnv(),
): Promise<T & { readonly mmproj?: string }> {
  if (config.model === null) return config;
  const opts = flags as S3CliOptions & { verify?: string; artifacts?: string; artifactCache?: string };
  const verify = (opts.verify ?? getEnv("HERD_VERIFY", env) ?? "full") as VerifyMode;
  if (!VERIFY_MODES.includes(verify)) throw new Error(`--verify must be one of ${VERIFY_MODES.join(", ")} (got ${verify})`);
  let bar: ReturnType<typeof createByteProgress> | null = null;
  const m = await resolveServeModel(config.model, {
    verify,
    artifacts: opts.artifacts ?? getEnv("HERD_ARTIFACTS", env),
    cacheDir: opts.artifactCache ?? getEnv("HERD_ARTIFACT_CACHE", env) ?? defaultArtifactCacheDir(),
    s3: s3SettingsFrom(opts, env),
    onTotal: (phase, n) => {
      bar?.stop();
      bar = n > 0 ? createByteProgress(phase, n, { enabled: opts.progress === false ? false : undefined }) : null;
    },
    onProgress: (_phase, n) => bar?.tick(n),
    log: (msg) => process.stderr.write(`${msg}\n`),
  });
  (bar as ReturnType<typeof createByteProgress> | null)?.stop();
  // An explicit --mmproj wins over the artifact's own projector.
  const explicitMmproj = (config as { readonly mmproj?: string | null }).mmproj;
  return { ...config, model: m.ggufPath, ...(m.mmprojPath && !explicitMmproj ? { mmproj: m.mmprojPath } : {}) };
}

export function register(program: Command): void {
  const cmd = program.command("artifacts").description("move compiled artifacts between folders and S3 (push, pull, verify, show)");
  addS3Options(
    cmd
      .command("push")
      .description(
        "upload an artifact folder (verified first) to a folder or s3://bucket/prefix; unchanged files are skipped, the manifest goes last",
      )
      .argument("<dir>", "artifact folder (from herd compile)")
      .argument("<location>", "destination: s3://bucket/prefix or a folder"),
  ).action((dir: string, location: string, opts: S3CliOptions) => pushCommand(dir, location, opts));
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
