/**
 * Engine configuration defaults. Names follow vLLM's flags (`--max-model-len`, `--max-num-seqs`,
 * `--max-num-batched-tokens`); 0 means "derive from the model".
 * @module
 */
import { availableParallelism } from "node:os";
import type { EngineConfig } from "./types.js";

export const DEFAULT_MAX_MODEL_LEN = 8192;

export function defaultEngineConfig(model: string): EngineConfig {
  return {
    model,
    device: "cpu",
    maxModelLen: 0,
    maxNumSeqs: 16,
    maxNumBatchedTokens: 512,
    kvCacheTokens: 0,
    maxWaiting: 1024,
    threads: Math.max(1, availableParallelism()),
    enablePrefixCaching: true,
    nGpuLayers: -1,
    flashAttn: "auto",
    loadMode: "auto",
  };
}

/**
 * Fills the values that depend on the model: `maxModelLen` defaults to the model's training
 * context capped at 8192; the KV cache defaults to room for every sequence at full length, capped at
 * max(maxModelLen, 32768) tokens so small machines are not over-committed.
 */
export function finalizeEngineConfig(config: EngineConfig, contextTrainLength: number): EngineConfig {
  const train = contextTrainLength > 0 ? contextTrainLength : DEFAULT_MAX_MODEL_LEN;
  const maxModelLen = config.maxModelLen > 0 ? config.maxModelLen : Math.min(train, DEFAULT_MAX_MODEL_LEN);
  const kvCacheTokens =
    config.kvCacheTokens > 0 ? config.kvCacheTokens : Math.min(maxModelLen * config.maxNumSeqs, Math.max(maxModelLen, 32768));
  if (config.maxNumSeqs < 1 || config.maxNumSeqs > 256) throw new Error(`max-num-seqs must be 1..256 (got ${config.maxNumSeqs})`);
  if (config.maxNumBatchedTokens < 1) throw new Error(`max-num-batched-tokens must be ≥ 1 (got ${config.maxNumBatchedTokens})`);
  if (config.threads < 1) throw new Error(`threads must be ≥ 1 (got ${config.threads})`);
  return { ...config, maxModelLen, kvCacheTokens: Math.max(kvCacheTokens, maxModelLen) };
}
