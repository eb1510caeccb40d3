/**
 * Startup check that our struct declarations match the loaded libllama. A silent layout change after
 * an upgrade would corrupt every call, so a mismatch refuses to start with a message that says why.
 * @module
 */
import { EXPECTED_STRUCT_SIZES, sizeofStruct, type Bindings } from "./bindings.js";

export class AbiMismatchError extends Error {
  override readonly name = "AbiMismatchError";
}

/** Counts how many bytes of a sentinel-filled buffer the C function wrote. */
function bytesWritten(fill: (out: Uint8Array) => unknown): number {
  const buf = new Uint8Array(512).fill(0xa5);
  fill(buf);
  let last = -1;
  for (let i = 0; i < buf.length; i++) if (buf[i] !== 0xa5) last = i;
  return last + 1;
}

/** Throws `AbiMismatchError` when the layouts or the known defaults disagree with the library. */
export function checkAbi(b: Bindings): void {
  const problems: string[] = [];
  for (const [name, expected] of Object.entries(EXPECTED_STRUCT_SIZES)) {
    const actual = sizeofStruct(name as keyof typeof EXPECTED_STRUCT_SIZES);
    if (actual !== expected) problems.push(`${name}: declared ${actual} bytes, expected ${expected}`);
  }
  // The C functions write their whole struct, except trailing padding: a written size must lie
  // within 8 bytes below the declared size, never above it.
  const canaries: Array<[string, (o: Uint8Array) => unknown]> = [
    ["llama_model_params", b.rawModelDefaultParams],
    ["llama_context_params", b.rawContextDefaultParams],
    ["llama_model_quantize_params", b.rawQuantizeDefaultParams],
  ];
  for (const [name, fn] of canaries) {
    const declared = sizeofStruct(name as keyof typeof EXPECTED_STRUCT_SIZES);
    const written = bytesWritten(fn);
    if (written > declared || written < declared - 8) {
      problems.push(`${name}: the library writes ${written} bytes, our declaration has ${declared}`);
    }
  }
  const cp = b.contextDefaultParams();
  if (cp.n_ctx !== 512 || cp.n_batch !== 2048 || cp.n_ubatch !== 512 || cp.type_k !== 1 || cp.flash_attn_type !== -1) {
    problems.push(
      `llama_context_default_params decoded unexpected defaults (n_ctx ${cp.n_ctx}, ` +
        `n_batch ${cp.n_batch}, n_ubatch ${cp.n_ubatch}, type_k ${cp.type_k}, flash_attn_type ${cp.flash_attn_type})`,
    );
  }
  const mp = b.modelDefaultParams();
  if (mp.vocab_only !== false || mp.use_extra_bufts !== true) {
    problems.push(
      `llama_model_default_params decoded unexpected defaults (vocab_only ${mp.vocab_only}, use_extra_bufts ${mp.use_extra_bufts})`,
    );
  }
  if (problems.length > 0) {
    throw new AbiMismatchError(
      `llama.cpp ABI mismatch with ${b.files.libllama} (herd is built for node-llama-cpp 3.21.1 / llama.cpp v0.4.0):\n  - ` +
        problems.join("\n  - ") +
        "\nReinstall the pinned versions (npm ci) or regenerate src/native/bindings.ts from the new llama.h.",
    );
  }
}
