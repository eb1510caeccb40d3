/**
 * A GGUF file to write: metadata in order plus lazily-sourced tensors, and llama.cpp's converter
 * rules for which tensors stay F32 whatever the output type.
 * @module
 */
import { GgmlType, GgufWriter, type GgufValue, type GgufWriteResult, type TensorDeclaration } from "../model/gguf/gguf-writer.js";
import type { OutFloatType } from "./tensor-data.js";

export interface GgufPlan {
  readonly kvs: ReadonlyArray<readonly [string, GgufValue]>;
  readonly tensors: readonly TensorDeclaration[];
  /** Checkpoint bytes the tensors read (for progress and throughput). */
  readonly sourceBytes: number;
}

/** Writes `plan` to `path` (atomically: temp file + rename). */
export async function writeGgufPlan(plan: GgufPlan, path: string): Promise<GgufWriteResult> {
  const w = new GgufWriter(path);
  for (const [k, v] of plan.kvs) w.set(k, v);
  for (const t of plan.tensors) w.addTensor(t);
  return w.write();
}

/** `llama_ftype` written as `general.file_type` for an all-float output. */
export function fileTypeOf(t: OutFloatType): number {
  return t === GgmlType.F32 ? 0 : t === GgmlType.F16 ? 1 : 32;
}

/** Tensor kinds llama.cpp's converter always keeps in F32 (`prepare_tensors`). */
const ALWAYS_F32 = [
  /^blk\.\d+\.ffn_gate_inp\.weight$/,
  /^blk\.\d+\.ffn_gate_inp_shexp\.weight$/,
  /^position_embd\.weight$/,
  /^v\.position_embd\.weight$/,
];

/**
 * Output type of tensor `name` with `nDims` dimensions in a file of type `ftype`: 1-D tensors,
 * norms, routers, position embeddings and anything not named `*.weight` are F32; a forced type
 * (`force`) otherwise wins; everything else gets `ftype`.
 */
export function tensorTypeFor(name: string, nDims: number, ftype: OutFloatType, force?: OutFloatType): OutFloatType {
  if (nDims <= 1 || name.endsWith("_norm.weight")) return GgmlType.F32;
  if (force !== undefined) return force;
  if (ALWAYS_F32.some((re) => re.test(name)) || !name.endsWith(".weight")) return GgmlType.F32;
  return ftype;
}
