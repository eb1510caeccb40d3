/**
 * `herd compile SOURCE --out DIR|s3://… [--quant Q8_0|Q4_K_M|F16|BF16|F32]`: a Hugging Face
 * checkpoint (local folder or Hub id) → a verified artifact folder (GGUF text model, mmproj,
 * manifest). Skipped when the output's manifest already matches; with an s3:// output the artifact
 * is built in a local staging folder and pushed.
 * @module
 */
import { type Command, Option } from "commander";
import { homedir } from "node:os";
import { join, resolve } from "node:path";
import { pushArtifact } from "../../compile/artifacts.js";
import {
  COMPILE_QUANTS,
  compileCheckpoint,
  DEFAULT_COMPILE_QUANT,
  defaultArtifactName,
  type CompileQuant,
  type CompileResult,
} from "../../compile/compile.js";
import { DEFAULT_HF_ENDPOINT, hubToken } from "../../compile/hub.js";
import { type EnvSource, getEnv, processEnv } from "../../config/env.js";
import { resolveCompileSource } from "../../compile/source.js";
import { getBindings } from "../../native/bindings.js";
import { installLlamaLog } from "../../native/log.js";
import { createByteProgress, formatBytes, type ByteProgress } from "../../storage/progress.js";
import { isS3Url, joinStoreLocation } from "../../storage/store-url.js";
import { addS3Options, s3SettingsFrom, type S3CliOptions } from "./artifacts.js";

interface Options extends S3CliOptions {
  out?: string;
  artifacts?: string;
  quant: CompileQuant;
  force?: boolean;
  name?: string;
  revision?: string;
  hfToken?: string;
  hfEndpoint?: string;
  vision?: boolean;
  tokenizerPre?: string;
  threads?: string;
  cacheDir?: string;
}

export async function compileCommand(source: string, opts: Options, env: EnvSource = processEnv()): Promise<CompileResult> {
  const cacheRoot = opts.cacheDir ?? join(homedir(), ".cache", "herd");
  const artifactsRoot = opts.artifacts ?? getEnv("HERD_ARTIFACTS", env);
  const show = opts.progress === false ? false : undefined;
  let bar: ByteProgress | null = null;
  const resolved = await resolveCompileSource(source, {
    cacheDir: join(cacheRoot, "hub"),
    endpoint: opts.hfEndpoint ?? getEnv("HF_ENDPOINT", env),
    token: await hubToken(opts.hfToken, env),
    revision: opts.revision,
    onTotal: (n) => (bar = createByteProgress("download", n, { enabled: show })),
    onProgress: (n) => bar?.tick(n),
  });
  (bar as ByteProgress | null)?.stop(
    resolved.downloadedBytes > 0
      ? `downloaded ${formatBytes(resolved.downloadedBytes)} from the Hub (${resolved.source.id}@${resolved.source.revision?.slice(0, 12)})`
      : undefined,
  );

  const name = defaultArtifactName(resolved.source.id, opts.quant);
  const out = opts.out ?? (artifactsRoot ? joinStoreLocation(artifactsRoot, name) : undefined);
  if (!out) throw new Error("say where the artifact goes: --out DIR|s3://bucket/prefix, or --artifacts ROOT / HERD_ARTIFACTS");
  const remote = isS3Url(out);
  const outDir = remote ? join(cacheRoot, "staging", name) : resolve(out);

  if (opts.quant === "Q8_0" || opts.quant === "Q4_K_M")
    installLlamaLog(getBindings("cpu"), (_level, text) => process.stderr.write(text), 4);
  let convertBar: ByteProgress | null = null;
  let converted = 0;
  const r = await compileCheckpoint(resolved.dir, outDir, {
    quant: opts.quant,
    force: opts.force,
    name: opts.name,
    vision: opts.vision,
    tokenizerPre: opts.tokenizerPre,
    threads: opts.threads ? Number(opts.threads) : undefined,
    source: resolved.source,
    onProgress: (p) => {
      if (p.phase === "convert" && p.totalBytes !== undefined) {
        convertBar ??= createByteProgress("convert", p.totalBytes, { enabled: show });
        convertBar.tick((p.bytes ?? 0) - converted);
        converted = p.bytes ?? 0;
      } else if (p.phase !== "convert" && convertBar) {
        convertBar.stop();
        convertBar = null;
      }
      if (p.phase === "quantize" || p.phase === "skip") console.error(p.message);
    },
  });
  const m = r.manifest;
  if (r.skipped)
    console.log(
      `${outDir} is up to date (${m.quantization}, from ${m.source.id}` +
        `${m.source.revision ? `@${m.source.revision.slice(0, 12)}` : ""}); nothing to do (--force rebuilds)`,
    );
  else {
    const gbps = r.sourceBytes / 1e9 / Math.max(r.convertMs / 1000, 1e-3);
    console.log(
      `compiled ${m.source.id} → ${outDir} in ${(r.ms / 1000).toFixed(1)} s ` +
        `(read ${formatBytes(r.sourceBytes)} of checkpoint at ${gbps.toFixed(2)} GB/s)\n` +
        m.files.map((f) => `  ${f.path}  ${f.type}  ${formatBytes(f.bytes)}  sha256 ${f.sha256.slice(0, 16)}…`).join("\n"),
    );
  }
  if (remote) {
    const pushBar = createByteProgress("push", 0, { enabled: show });
    const p = await pushArtifact(outDir, out, {
      s3: s3SettingsFrom(opts, env),
      onTotal: (n) => pushBar.setTotal(n),
      onProgress: (n) => pushBar.tick(n),
    });
    pushBar.stop();
    console.log(
      `pushed to ${p.location} (${p.sync.transferredFiles.length} file(s) uploaded, ${p.sync.skippedFiles.length} already there)`,
    );
  }
  return r;
}

export function register(program: Command): void {
  const cmd = program
    .command("compile")
    .description("compile a Hugging Face checkpoint (folder or Hub id) into verified serving artifacts: GGUF model, mmproj, manifest")
    .argument("<source>", "checkpoint folder, or a Hub id such as meta-llama/Llama-4-Scout-17B-16E-Instruct")
    .option("--out <dir>", "artifact folder or s3://bucket/prefix (default: <--artifacts>/<name>-<quant>)")
    .option("--artifacts <root>", "artifact root, folder or s3://bucket/prefix [env HERD_ARTIFACTS]")
    .addOption(new Option("--quant <type>", "weight format of the text model").choices([...COMPILE_QUANTS]).default(DEFAULT_COMPILE_QUANT))
    .option("--force", "recompile even when the manifest says the artifact is up to date")
    .option("--name <name>", "model name (general.name, file names); default: the Hub id or folder name")
    .option("--revision <rev>", "Hub branch, tag or commit (default: main)")
    .option("--hf-token <token>", "Hugging Face token [env HF_TOKEN, or ~/.cache/huggingface/token]")
    .option("--hf-endpoint <url>", `Hub endpoint [env HF_ENDPOINT] (default: ${DEFAULT_HF_ENDPOINT})`)
    .option("--no-vision", "skip the vision tower (no mmproj)")
    .option("--tokenizer-pre <name>", "llama.cpp pre-tokenizer name, when the tokenizer.json regex is not recognized")
    .option("--threads <n>", "threads for quantization (default: all cores)")
    .option("--cache-dir <dir>", "where Hub downloads (hub/) and s3 staging (staging/) go (default: ~/.cache/herd)");
  addS3Options(cmd).action(async (source: string, opts: Options) => {
    await compileCommand(source, opts);
  });
}
