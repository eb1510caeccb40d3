/**
 * Engine configuration defaults. Names follow vLLM's flags (`--max-model-len`, `--max-num-seqs`,
 * `--max-num-batched-tokens`); 0 means "derive from the model".
 * @module
 */
import { availableParallelism } from "node:os";
import { DEFAULT_MAX_MODEL_LEN, DEFAULT_MAX_NUM_SEQS } from "../common/serving-defaults.js";
import type { EngineConfig } from "./types.js";

/** The default KV cache is room for every sequence at full length, but at most max(maxModelLen, this) cells. */
export const DEFAULT_KV_CACHE_CAP = 32768;

/**
 * The engine settings that depend on neither the model nor the machine. `herd serve`'s defaults and
 * its --help texts are these (config/serve-config.ts).
 */
export const ENGINE_DEFAULTS = {
  device: "cpu",
  maxNumSeqs: DEFAULT_MAX_NUM_SEQS,
  maxNumBatchedTokens: 512,
  maxWaiting: 1024,
  enablePrefixCaching: true,
  nGpuLayers: -1,
  flashAttn: "auto",
  loadMode: "auto",
} as const satisfies Partial<EngineConfig>;

/**
 * The prefix cache's auto cap never drops below this many cells (long system prompts that serve hits
 * survive a busy moment; entries never reused get an eighth of it, see UNPROVEN_SHARE). 4096 keeps
 * two 1k-token system prompts (with their questions) while requests use them; a larger floor keeps
 * stale cells that slow every decode (measurements: docs/performance.md#prefix-cache-cap).
 */
export const CACHE_FLOOR_CELLS = 4096;

export function defaultEngineConfig(model: string): EngineConfig {
  return { model, ...ENGINE_DEFAULTS, maxModelLen: 0, kvCacheTokens: 0, threads: Math.max(1, availableParallelism()) };
}

/**
 * Fills the values that depend on the model: `maxModelLen` defaults to the model's training context
 * capped at DEFAULT_MAX_MODEL_LEN (what `herd plan` assumes too); the KV cache defaults to room for
 * every sequence at full length, capped at max(maxModelLen, DEFAULT_KV_CACHE_CAP) tokens so small
 * machines are not over-committed.
 */
export function finalizeEngineConfig(config: EngineConfig, contextTrainLength: number): EngineConfig {
  const train = contextTrainLength > 0 ? contextTrainLength : DEFAULT_MAX_MODEL_LEN;
  const maxModelLen = config.maxModelLen > 0 ? config.maxModelLen : Math.min(train, DEFAULT_MAX_MODEL_LEN);
  const kvCacheTokens =
    config.kvCacheTokens > 0
      ? config.kvCacheTokens
      : Math.min(maxModelLen * config.maxNumSeqs, Math.max(maxModelLen, DEFAULT_KV_CACHE_CAP));
  if (config.maxNumSeqs < 1 || config.maxNumSeqs > 256) throw new Error(`max-num-seqs must be 1..256 (got ${config.maxNumSeqs})`);
  if (config.maxNumBatchedTokens < 1) throw new Error(`max-num-batched-tokens must be ≥ 1 (got ${config.maxNumBatchedTokens})`);
  if (config.threads < 1) throw new Error(`threads must be ≥ 1 (got ${config.threads})`);
  return { ...config, maxModelLen, kvCacheTokens: Math.max(kvCacheTokens, maxModelLen) };
}

// The engine's own bounds on sampling parameters: the engine client rejects requests beyond them
// (the server enforces its configured, usually smaller, `--max-logprobs`, `--max-n` and `--max-stop-strings` first).

/** The most top logprobs a request may ask for per token. */
export const MAX_LOGPROBS = 1024;
/** The most completions (n) one request may ask for. */
export const MAX_N = 128;
/** The most stop strings one request may give. */
export const MAX_STOP_STRINGS = 1024;
