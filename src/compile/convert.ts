/**
 * One checkpoint folder → a text GGUF and (when it has a vision tower) an mmproj GGUF, all-float
 * (F32/F16/BF16). Quantized outputs are made from these by `compile.ts`.
 * @module
 */
import type { GgufWriteResult } from "../model/gguf/gguf-writer.js";
import { LLAMA4_CHAT_TEMPLATE } from "../model/llama4/tokenizer.js";
import { readCheckpointConfig, type CheckpointConfig } from "./hf-config.js";
import { convertHfTokenizer, type ConvertedTokenizer } from "./hf-tokenizer.js";
import { writeGgufPlan } from "./gguf-plan.js";
import { planLlamaText, textHparams } from "./llama-text.js";
import { planLlama4Vision } from "./llama4-vision.js";
import { SafetensorsCheckpoint } from "./safetensors.js";
import type { OutFloatType, ReadProgress } from "./tensor-data.js";

export interface ConvertOptions {
  readonly ftype: OutFloatType;
  /** Type of the mmproj (default `ftype`). */
  readonly mmprojFtype?: OutFloatType;
  /** `general.name` of the text model (the mmproj gets `mmproj-` + this). */
  readonly name: string;
  /** Override the detected pre-tokenizer. */
  readonly tokenizerPre?: string;
  /** Also write the vision tower when the checkpoint has one (default true). */
  readonly vision?: boolean;
  readonly onRead?: ReadProgress;
}

export interface ConvertResult {
  readonly config: CheckpointConfig;
  readonly tokenizer: ConvertedTokenizer;
  readonly text: GgufWriteResult;
  readonly mmproj: GgufWriteResult | null;
  /** Checkpoint tensor bytes read. */
  readonly sourceBytes: number;
}

/** Converts checkpoint folder `dir`; the mmproj is written only when `mmprojPath` is given and the checkpoint has vision. */
export async function convertCheckpoint(
  dir: string,
  textPath: string,
  mmprojPath: string | null,
  opts: ConvertOptions,
): Promise<ConvertResult> {
  const config = await readCheckpointConfig(dir);
  const h = textHparams(config);
  const tokenizer = await convertHfTokenizer(dir, config, {
    vocabSize: h.vocabSize,
    pre: opts.tokenizerPre,
    fallbackChatTemplate: h.arch === "llama4" ? LLAMA4_CHAT_TEMPLATE : undefined,
  });
  const ckpt = await SafetensorsCheckpoint.open(dir);
  try {
    const textPlan = planLlamaText(ckpt, config, tokenizer, { ftype: opts.ftype, name: opts.name, onRead: opts.onRead });
    const text = await writeGgufPlan(textPlan, textPath);
    let mmproj: GgufWriteResult | null = null;
    let sourceBytes = textPlan.sourceBytes;
    const hasVision = config.vision !== null && [...ckpt.tensors].some((t) => t.name.startsWith("vision_model."));
    if (mmprojPath !== null && hasVision && opts.vision !== false) {
      const visionPlan = planLlama4Vision(ckpt, config, {
        ftype: opts.mmprojFtype ?? opts.ftype,
        name: `mmproj-${opts.name}`,
        onRead: opts.onRead,
      });
      mmproj = await writeGgufPlan(visionPlan, mmprojPath);
      sourceBytes += visionPlan.sourceBytes;
    }
    return { config, tokenizer, text, mmproj, sourceBytes };
  } finally {
    await ckpt.close();
  }
}
