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

/**
 * The weight format herd (llama.cpp) serves when none is named: what `herd compile` writes without
 * --quant, and so what `herd plan` and `herd deploy` size for the herd backend (`--dtype` default
 * `q8_0`), so that a plan sizes the artifact the compile produces. Q8_0 is near-lossless (8.5 bits per
 * weight) at 53 % of bf16's bytes: Maverick fits one p5.48xlarge (8 × H100 80 GB) in it, not in bf16.
 * The vLLM backends default to bf16 instead (the checkpoint's own type; Neuron compiles bf16).
 */
export const DEFAULT_HERD_QUANT = "Q8_0";
