/**
 * GGUF → GGUF quantization through llama.cpp's `llama_model_quantize` (CPU binding).
 * The output is written under a temporary name and renamed into place.
 * @module
 */
import { rename, unlink, mkdir } from "node:fs/promises";
import { randomBytes } from "node:crypto";
import { availableParallelism } from "node:os";
import { basename, dirname, join } from "node:path";
import { getBindings } from "../native/bindings.js";

/** `llama_ftype` ids of the target formats herd offers. */
export const QUANT_FTYPES = { F16: 1, Q8_0: 7, Q4_K_M: 15 } as const;
export type QuantName = keyof typeof QUANT_FTYPES;
export const QUANT_NAMES = Object.keys(QUANT_FTYPES) as QuantName[];

export interface QuantizeOptions {
  /** Worker threads (default: all cores). */
  readonly nThreads?: number;
}

/**
 * Quantizes `inPath` to `outPath` as `ftype` (a name or a raw `llama_ftype` id). Blocks the calling
 * thread while llama.cpp works (seconds for the bench model). Throws when llama.cpp reports failure.
 */
export async function quantizeModel(inPath: string, outPath: string, ftype: QuantName | number, opts: QuantizeOptions = {}): Promise<void> {
  const id = typeof ftype === "number" ? ftype : QUANT_FTYPES[ftype];
  if (id === undefined) throw new Error(`unknown quantization ${String(ftype)} (known: ${QUANT_NAMES.join(", ")})`);
  const b = getBindings("cpu");
  const params = b.quantizeDefaultParams();
  params.ftype = id;
  params.nthread = opts.nThreads ?? availableParallelism();
  await mkdir(dirname(outPath), { recursive: true });
  const tmp = join(dirname(outPath), `.${basename(outPath)}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`);
  try {
    const rc = b.modelQuantize(inPath, tmp, params);
    if (rc !== 0) throw new Error(`llama_model_quantize(${inPath} → ${String(ftype)}) failed with code ${rc}`);
    await rename(tmp, outPath);
  } catch (err) {
    await unlink(tmp).catch(() => {});
    throw err;
  }
}
