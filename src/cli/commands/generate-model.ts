/**
 * `herd generate-model`: writes a random-weight Llama 4 GGUF (the embedded default model or the
 * benchmark model), optionally quantized.
 * @module
 */
import { type Command, Option } from "commander";
import { mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { ensureEmbeddedModel } from "../../model/embedded.js";
import { countParams, generateLlama4Model, LLAMA4_PRESETS, type Llama4Preset } from "../../model/llama4/random-model.js";
import { QUANT_NAMES, quantizeModel, type QuantName } from "../../model/quantize.js";
import { getBindings } from "../../native/bindings.js";
import { installLlamaLog } from "../../native/log.js";

interface Options {
  preset: Llama4Preset;
  out?: string;
  quant?: QuantName;
}

const mib = (n: number) => `${(n / 2 ** 20).toFixed(1)} MiB`;

async function generateModelCommand(opts: Options): Promise<string> {
  const t0 = performance.now();
  // llama.cpp logs every tensor while quantizing: keep errors only.
  if (opts.quant) installLlamaLog(getBindings("cpu"), (_level, text) => console.error(text), 4);
  let path: string;
  if (!opts.out) {
    path = await ensureEmbeddedModel({ preset: opts.preset, ...(opts.quant ? { quant: opts.quant } : {}) });
  } else {
    path = resolve(opts.out);
    if (!opts.quant) {
      await generateLlama4Model(path, opts.preset);
    } else {
      const work = await mkdtemp(join(tmpdir(), "herd-generate-"));
      try {
        const base = join(work, "model.gguf");
        await generateLlama4Model(base, opts.preset);
        await quantizeModel(base, path, opts.quant);
      } finally {
        await rm(work, { recursive: true, force: true });
      }
    }
  }
  const size = (await stat(path)).size;
  const params = countParams(LLAMA4_PRESETS[opts.preset]);
  console.log(
    `${path}\n  preset ${opts.preset}, ${(params / 1e6).toFixed(1)}M params, ` +
      `${opts.quant ?? LLAMA4_PRESETS[opts.preset].weightType.toUpperCase()}, ` +
      `${mib(size)}, ${((performance.now() - t0) / 1000).toFixed(1)} s`,
  );
  return path;
}

export function register(program: Command): void {
  program
    .command("generate-model")
    .description(
      "Write a random-weight Llama 4 model (offline, deterministic); without --out it goes to the model cache and its path is printed",
    )
    .addOption(new Option("--preset <name>", "model size").choices(Object.keys(LLAMA4_PRESETS)).default("tiny"))
    .option("--out <file>", "write the GGUF here instead of the cache ($HERD_CACHE_DIR or ~/.cache/herd/models)")
    .addOption(new Option("--quant <type>", "quantize with llama.cpp").choices(QUANT_NAMES))
    .action(async (opts: Options) => {
      await generateModelCommand(opts);
    });
}
