/**
 * Defaults `herd serve` (the engine) and `herd plan` share, so that a plan sizes what serving does.
 * @module
 */

/**
 * Tokens per sequence (prompt + output) when --max-model-len is not given, capped at the model's own
 * maximum (its training context): 16384, the guide's value, which `herd plan` and so `herd deploy`
 * always used. `herd serve` used 8192 before; its default KV cache is max(max-model-len, 32768) cells
 * either way, so the larger default costs no memory.
 */
export const DEFAULT_MAX_MODEL_LEN = 16384;

/** Concurrently running sequences when --max-num-seqs is not given (plans for vLLM-neuron use 1). */
export const DEFAULT_MAX_NUM_SEQS = 16;
