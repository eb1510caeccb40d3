/**
 * The embedded default model: a random-weight Llama 4 that herd generates on first use and caches.
 *
 * The cache file name carries the preset and a hash of what determines its bytes (the generator
 * version `LLAMA4_GENERATOR_VERSION`, the preset's config, the tokenizer inputs: ranks, special
 * tokens, chat template), so a changed generator writes a new file instead of reusing a stale one. The
 * vision tower (mmproj) is a separate file with its own key (`ensureEmbeddedMmproj`), so adding it
 * left the text model's file name unchanged. Files appear atomically (temp file + rename), so concurrent
 * callers, in this process or others, never see half a file; in-process callers share one generation.
 * @module
 */
import { createHash } from "node:crypto";
import { readdir, stat, unlink } from "node:fs/promises";
import { homedir } from "node:os";
import { basename, dirname, join } from "node:path";
import { getEnv } from "../config/env.js";
import { generateLlama4Mmproj, LLAMA4_MMPROJ_GENERATOR_VERSION, LLAMA4_VISION_PRESETS } from "./llama4/random-mmproj.js";
import { generateLlama4Model, LLAMA4_GENERATOR_VERSION, LLAMA4_PRESETS, type Llama4Preset } from "./llama4/random-model.js";
import { LLAMA4_CHAT_TEMPLATE, O200K_RANKS, llama4SpecialTokens } from "./llama4/tokenizer.js";
import { quantizeModel, type QuantName } from "./quantize.js";

export interface EmbeddedModelOptions {
  /** Folder for generated models; default `$HERD_CACHE_DIR` or `~/.cache/herd/models`. */
  readonly cacheDir?: string;
  /** Default `tiny`. */
  readonly preset?: Llama4Preset;
  /** Also quantize (cached as a separate file); default: the generated F16 file as is. */
  readonly quant?: QuantName;
}

export function defaultModelCacheDir(): string {
  return getEnv("HERD_CACHE_DIR") ?? join(homedir(), ".cache", "herd", "models");
}

let fingerprint: string | undefined;
/** Hash of the generator version, the preset config and the tokenizer inputs. */
export function embeddedModelHash(preset: Llama4Preset): string {
  fingerprint ??= createHash("sha256")
    .update(JSON.stringify({ v: LLAMA4_GENERATOR_VERSION, template: LLAMA4_CHAT_TEMPLATE, specials: llama4SpecialTokens() }))
    .update(O200K_RANKS.bpe_ranks)
    .digest("hex");
  return createHash("sha256").update(fingerprint).update(JSON.stringify(LLAMA4_PRESETS[preset])).digest("hex").slice(0, 16);
}

/** File name of a cached embedded model, e.g. `herd-llama4-tiny-<hash>.gguf`. */
export function embeddedModelFileName(preset: Llama4Preset, quant?: QuantName): string {
  return `herd-llama4-${preset}-${embeddedModelHash(preset)}${quant ? `-${quant.toLowerCase()}` : ""}.gguf`;
}

const inFlight = new Map<string, Promise<string>>();

async function exists(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

const STALE_TEMP_MS = 60 * 60 * 1000;

/** Removes temp files of `path` left by crashed generations (older than an hour: not in progress). */
async function removeStaleTemps(path: string): Promise<void> {
  const prefix = `.${basename(path)}.`;
  let names: string[];
  try {
    names = await readdir(dirname(path));
  } catch {
    return;
  }
  for (const name of names) {
    if (!name.startsWith(prefix) || !name.endsWith(".tmp")) continue;
    const p = join(dirname(path), name);
    try {
      if (Date.now() - (await stat(p)).mtimeMs > STALE_TEMP_MS) await unlink(p);
    } catch {
      /* raced with its owner or another cleaner */
    }
  }
}

/** Runs `make(path)` unless `path` exists; concurrent in-process calls for one path share the work. */
function once(path: string, make: (path: string) => Promise<unknown>): Promise<string> {
  let p = inFlight.get(path);
  if (!p) {
    p = (async () => {
      if (!(await exists(path))) {
        await removeStaleTemps(path);
        await make(path);
      }
      return path;
    })().finally(() => inFlight.delete(path));
    inFlight.set(path, p);
  }
  return p;
}

/**
 * Path of the cached embedded model, generating it first when missing (a few seconds for `tiny`,
 * ~10 s for `bench`).
 */
export async function ensureEmbeddedModel(opts: EmbeddedModelOptions = {}): Promise<string> {
  const preset = opts.preset ?? "tiny";
  if (!Object.hasOwn(LLAMA4_PRESETS, preset))
    throw new Error(`unknown embedded model preset ${preset} (known: ${Object.keys(LLAMA4_PRESETS).join(", ")})`);
  const dir = opts.cacheDir ?? defaultModelCacheDir();
  const base = await once(join(dir, embeddedModelFileName(preset)), (p) => generateLlama4Model(p, preset));
  const quant = opts.quant;
  if (!quant || (quant === "F16" && LLAMA4_PRESETS[preset].weightType === "f16")) return base;
  return once(join(dir, embeddedModelFileName(preset, quant)), (p) => quantizeModel(base, p, quant));
}

/** Hash of the mmproj generator version and the preset's vision config (which includes its projection width). */
function embeddedMmprojHash(preset: Llama4Preset): string {
  return createHash("sha256")
    .update(JSON.stringify({ v: LLAMA4_MMPROJ_GENERATOR_VERSION, vision: LLAMA4_VISION_PRESETS[preset] }))
    .digest("hex")
    .slice(0, 16);
}

/** File name of a cached embedded vision tower, e.g. `herd-llama4-tiny-mmproj-<hash>.gguf`. */
export function embeddedMmprojFileName(preset: Llama4Preset): string {
  return `herd-llama4-${preset}-mmproj-${embeddedMmprojHash(preset)}.gguf`;
}

/**
 * Path of the cached vision tower (mmproj GGUF) of the embedded model `opts.preset`, generating it first
 * when missing (well under a second). It pairs with `ensureEmbeddedModel(opts)` (its projection width
 * is that model's `n_embd`); `opts.quant` does not apply: the mmproj stays F16, as converters write it.
 */
export async function ensureEmbeddedMmproj(opts: EmbeddedModelOptions = {}): Promise<string> {
  const preset = opts.preset ?? "tiny";
  if (!Object.hasOwn(LLAMA4_VISION_PRESETS, preset))
    throw new Error(`unknown embedded model preset ${preset} (known: ${Object.keys(LLAMA4_VISION_PRESETS).join(", ")})`);
  const dir = opts.cacheDir ?? defaultModelCacheDir();
  return once(join(dir, embeddedMmprojFileName(preset)), (p) => generateLlama4Mmproj(p, preset));
}
