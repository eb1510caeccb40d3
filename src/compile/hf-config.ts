/**
 * Hugging Face checkpoint configuration: `config.json` (top level merged with `text_config`, as
 * llama.cpp's converter does), RoPE parameters in both spellings (`rope_scaling` + `rope_theta` of
 * Hub files, `rope_parameters` of transformers v5), the vision tower's `vision_config`,
 * `preprocessor_config.json` and `generation_config.json`.
 * @module
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";

/** The small files of a checkpoint the compiler reads (besides `*.safetensors`), hashed whole into its cache key. */
export const CHECKPOINT_SMALL_FILES = [
  "config.json",
  "generation_config.json",
  "tokenizer.json",
  "tokenizer_config.json",
  "special_tokens_map.json",
  "chat_template.json",
  "chat_template.jinja",
  "preprocessor_config.json",
  "processor_config.json",
  "model.safetensors.index.json",
] as const;

export type Json = Record<string, unknown>;

export class CheckpointConfigError extends Error {
  override readonly name = "CheckpointConfigError";
}

/** RoPE settings after merging both spellings. */
export interface RopeParams {
  readonly ropeType: string | null;
  readonly theta: number | null;
  readonly factor: number | null;
  readonly lowFreqFactor: number | null;
  readonly highFreqFactor: number | null;
  readonly originalMaxPositionEmbeddings: number | null;
}

export interface GenerationDefaults {
  readonly temperature?: number;
  readonly topP?: number;
  readonly topK?: number;
  readonly minP?: number;
  readonly repetitionPenalty?: number;
  /** Token ids that end generation (`eos_token_id`, a number or a list). */
  readonly eosTokenIds: readonly number[];
  readonly bosTokenId?: number;
  readonly padTokenId?: number;
}

export interface CheckpointConfig {
  /** `architectures[0]`, e.g. `Llama4ForConditionalGeneration`. */
  readonly architecture: string;
  /** Top-level `config.json`, verbatim. */
  readonly raw: Json;
  /** Text hyper-parameters: top level overlaid with `text_config`. */
  readonly text: Json;
  readonly rope: RopeParams;
  /** `vision_config`, when the checkpoint has a vision tower. */
  readonly vision: Json | null;
  /** `preprocessor_config.json` merged with `processor_config.json`'s `image_processor`, if any. */
  readonly preprocessor: Json;
  readonly generation: GenerationDefaults | null;
}

async function readJson(path: string): Promise<Json | null> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw err;
  }
  try {
    return JSON.parse(text) as Json;
  } catch (err) {
    throw new CheckpointConfigError(`${path} is not valid JSON: ${(err as Error).message}`);
  }
}

const num = (v: unknown): number | null => (typeof v === "number" && Number.isFinite(v) ? v : null);
const str = (v: unknown): string | null => (typeof v === "string" ? v : null);

/** The first of `keys` present in `obj` (llama.cpp's `find_hparam`). */
export function findParam(obj: Json, keys: readonly string[]): unknown {
  for (const k of keys) if (k in obj && obj[k] !== null && obj[k] !== undefined) return obj[k];
  return undefined;
}

export function requireInt(obj: Json, keys: readonly string[], what = "config.json"): number {
  const v = findParam(obj, keys);
  if (typeof v !== "number" || !Number.isSafeInteger(v)) throw new CheckpointConfigError(`${what}: missing integer ${keys.join(" / ")}`);
  return v;
}

export function optionalNumber(obj: Json, keys: readonly string[]): number | null {
  return num(findParam(obj, keys));
}

/**
 * RoPE parameters as llama.cpp reads them: `rope_parameters` (v5; possibly per layer type, then the
 * `full_attention` entry) or `rope_scaling`, with `rope_theta` / `type` filled from the top level.
 */
export function parseRope(text: Json): RopeParams {
  let p = (text.rope_parameters ?? text.rope_scaling ?? {}) as Json;
  if (p && typeof p === "object" && "full_attention" in p && typeof p.full_attention === "object") p = p.full_attention as Json;
  if (!p || typeof p !== "object") p = {};
  return {
    ropeType: str(p.rope_type) ?? str(p.type),
    theta: num(p.rope_theta) ?? num(findParam(text, ["rope_theta", "rotary_emb_base"])),
    factor: num(p.factor),
    lowFreqFactor: num(p.low_freq_factor),
    highFreqFactor: num(p.high_freq_factor),
    originalMaxPositionEmbeddings: num(p.original_max_position_embeddings) ?? num(text.original_max_position_embeddings),
  };
}

function parseGeneration(g: Json | null): GenerationDefaults | null {
  if (!g) return null;
  const eos = g.eos_token_id;
  const eosTokenIds = Array.isArray(eos) ? eos.filter((x): x is number => typeof x === "number") : typeof eos === "number" ? [eos] : [];
  const out: { -readonly [K in keyof GenerationDefaults]: GenerationDefaults[K] } = { eosTokenIds };
  if (num(g.temperature) !== null) out.temperature = num(g.temperature)!;
  if (num(g.top_p) !== null) out.topP = num(g.top_p)!;
  if (num(g.top_k) !== null) out.topK = num(g.top_k)!;
  if (num(g.min_p) !== null) out.minP = num(g.min_p)!;
  if (num(g.repetition_penalty) !== null) out.repetitionPenalty = num(g.repetition_penalty)!;
  if (num(g.bos_token_id) !== null) out.bosTokenId = num(g.bos_token_id)!;
  if (num(g.pad_token_id) !== null) out.padTokenId = num(g.pad_token_id)!;
  return out;
}

/** Reads and normalizes the configuration files of a checkpoint folder. */
export async function readCheckpointConfig(dir: string): Promise<CheckpointConfig> {
  const raw = await readJson(join(dir, "config.json"));
  if (!raw) throw new CheckpointConfigError(`${dir} has no config.json: not a Hugging Face checkpoint folder`);
  const archs = raw.architectures;
  const architecture = Array.isArray(archs) && typeof archs[0] === "string" ? archs[0] : null;
  if (!architecture) throw new CheckpointConfigError(`${join(dir, "config.json")}: no "architectures" entry`);
  const textConfig = raw.text_config && typeof raw.text_config === "object" ? (raw.text_config as Json) : {};
  const text: Json = { ...raw, ...textConfig };
  const vision = raw.vision_config && typeof raw.vision_config === "object" ? (raw.vision_config as Json) : null;
  const pre = (await readJson(join(dir, "preprocessor_config.json"))) ?? {};
  const proc = await readJson(join(dir, "processor_config.json"));
  const preprocessor = { ...pre, ...(proc ?? {}), ...((proc?.image_processor as Json | undefined) ?? {}) };
  const generation = parseGeneration(await readJson(join(dir, "generation_config.json")));
  return { architecture, raw, text, rope: parseRope(text), vision, preprocessor, generation };
}
