import { mkdtemp, rm, writeFile, mkdir, truncate } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { f32ToF16, f32ToBf16, GgmlType } from "../model/gguf/gguf-writer.js";
import { writeSafetensors } from "../../test/fixtures/hf-checkpoint.js";
import { parseRope, type CheckpointConfig } from "./hf-config.js";
import { convertHfTokenizer } from "./hf-tokenizer.js";
import { llama3RopeFactors } from "./llama-text.js";
import { SafetensorsCheckpoint } from "./safetensors.js";
import { convertElements, halfToFloat, transposedSource } from "./tensor-data.js";
import { parseManifest } from "./manifest.js";
import { artifactSlug, defaultArtifactName } from "./compile.js";

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "herd-compile-unit-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const cfgWith = (text: Record<string, unknown>): CheckpointConfig => ({
  architecture: "Llama4ForConditionalGeneration",
  raw: text,
  text,
  rope: parseRope(text),
  vision: null,
  preprocessor: {},
  generation: null,
});

describe("element conversion", () => {
  it("BF16 → F16/F32 and F16 → BF16 agree with float32 round-to-nearest-even", () => {
    const bf = new Uint16Array([0x3f80, 0xbf80, 0x0001, 0x7f80, 0x4049, 0x3c23, 0x3380, 0x477f]);
    const f32 = Float32Array.from(bf, (b) => new Float32Array(new Uint32Array([b << 16]).buffer)[0]!);
    const out = new Uint16Array(bf.length);
    convertElements("BF16", GgmlType.F16, new Uint8Array(bf.buffer), bf.length, new Uint8Array(out.buffer));
    expect([...out]).toEqual([...f32].map(f32ToF16));
    const wide = new Float32Array(bf.length);
    convertElements("BF16", GgmlType.F32, new Uint8Array(bf.buffer), bf.length, new Uint8Array(wide.buffer));
    expect([...wide]).toEqual([...f32]);
    const back = new Uint16Array(out.length);
    convertElements("F16", GgmlType.BF16, new Uint8Array(out.buffer), out.length, new Uint8Array(back.buffer));
    expect([...back]).toEqual([...out].map((h) => f32ToBf16(halfToFloat(h))));
  });
});

describe("safetensors reader", () => {
  it("reads headers and ranges, transposes expert blocks, and rejects truncated files", async () => {
    const d = join(dir, "st");
    await mkdir(d);
    const vals = new Float32Array(2 * 3 * 4).map((_, i) => i);
    await writeSafetensors(join(d, "model.safetensors"), [
      { name: "x", dtype: "F32", shape: [2, 3, 4], data: new Uint8Array(vals.buffer) },
    ]);
    const ckpt = await SafetensorsCheckpoint.open(d);
    const t = ckpt.require("x");
    expect(t.shape).toEqual([2, 3, 4]);
    expect([...new Float32Array((await ckpt.read(t, 4, 8)).slice().buffer)]).toEqual([1, 2]);
    // Expert e: [3, 4] → columns 1..2 transposed → rows of 3.
    const chunks: number[] = [];
    const src = transposedSource(ckpt, t, GgmlType.F32, 1, 2);
    for await (const c of (src as { raw: () => AsyncIterable<Uint8Array> }).raw()) chunks.push(...new Float32Array(c.slice().buffer));
    expect(chunks).toEqual([1, 5, 9, 2, 6, 10, 13, 17, 21, 14, 18, 22]);
    await ckpt.close();
    await truncate(join(d, "model.safetensors"), 60);
    await expect(SafetensorsCheckpoint.open(d)).rejects.toThrow(/outside the file|not plausible/);
  });

  it("checks model.safetensors.index.json against the shards", async () => {
    const d = join(dir, "idx");
    await mkdir(d);
    await writeSafetensors(join(d, "a.safetensors"), [{ name: "w", dtype: "BF16", shape: [2], data: new Uint8Array(4) }]);
    await writeFile(join(d, "model.safetensors.index.json"), JSON.stringify({ weight_map: { w: "a.safetensors", v: "a.safetensors" } }));
    await expect(SafetensorsCheckpoint.open(d)).rejects.toThrow(/tensor v is in the index/);
  });
});

describe("config", () => {
  it("reads RoPE from rope_scaling + rope_theta and from rope_parameters", () => {
    const a = parseRope({ rope_theta: 500000, rope_scaling: { rope_type: "llama3", factor: 16 } });
    const b = parseRope({ rope_parameters: { rope_type: "llama3", factor: 16, rope_theta: 500000 } });
    expect(a).toEqual(b);
    expect(a.theta).toBe(500000);
  });

  it("Scout's llama3 rope_freqs: 35 ones then 29 sixteens", () => {
    const f = llama3RopeFactors(
      cfgWith({
        rope_theta: 500000,
        rope_scaling: { rope_type: "llama3", factor: 16, low_freq_factor: 1, high_freq_factor: 1, original_max_position_embeddings: 8192 },
      }),
      128,
    );
    expect([...f]).toEqual([...new Array(35).fill(1), ...new Array(29).fill(16)]);
  });
});

describe("tokenizer.json conversion", () => {
  it("pads the vocabulary, types added tokens, encodes spaces in pair merges, falls back to a chat template", async () => {
    const d = join(dir, "tok");
    await mkdir(d);
    const pattern =
      "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|" +
      "\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
    await writeFile(
      join(d, "tokenizer.json"),
      JSON.stringify({
        model: {
          type: "BPE",
          vocab: { a: 0, b: 1, "a b": 2 },
          merges: [
            ["a", "b"],
            ["a b", "c"],
          ],
        },
        added_tokens: [
          { id: 3, content: "<|begin_of_text|>", special: true },
          { id: 4, content: "<|eot_id|>", special: true },
          { id: 5, content: "hello", special: false },
        ],
        pre_tokenizer: { type: "Sequence", pretokenizers: [{ type: "Split", pattern: { Regex: pattern } }, { type: "ByteLevel" }] },
      }),
    );
    await writeFile(join(d, "tokenizer_config.json"), JSON.stringify({ bos_token: "<|begin_of_text|>", eos_token: "<|eot_id|>" }));
    const cfg = cfgWith({ eos_token_id: 4 });
    const t = await convertHfTokenizer(
      d,
      { ...cfg, generation: { eosTokenIds: [4, 9] } },
      { vocabSize: 8, fallbackChatTemplate: "TEMPLATE" },
    );
    expect(t.tokens).toEqual(["a", "b", "a b", "<|begin_of_text|>", "<|eot_id|>", "hello", "[PAD6]", "[PAD7]"]);
    expect([...t.tokenTypes]).toEqual([1, 1, 1, 3, 3, 4, 5, 5]);
    expect(t.merges).toEqual(["a b", "a\u0120b c"]);
    expect(t.pre).toBe("llama-bpe");
    expect(t.specialIds).toMatchObject({ bos: 3, eos: 4, eot: 4 });
    expect(t.stopTokenIds).toEqual([4]);
    expect([t.chatTemplate, t.chatTemplateSource]).toEqual(["TEMPLATE", "fallback"]);
    await writeFile(
      join(d, "tokenizer.json"),
      JSON.stringify({ model: { type: "BPE", vocab: {} }, pre_tokenizer: { type: "Split", pattern: { Regex: "\\w+" } } }),
    );
    await expect(convertHfTokenizer(d, cfg, { vocabSize: 8 })).rejects.toThrow(/--tokenizer-pre/);
  });
});

describe("manifest and names", () => {
  it("rejects foreign or newer manifests with a reason", () => {
    expect(() => parseManifest("{}")).toThrow(/not a herd artifact manifest/);
    expect(() => parseManifest(JSON.stringify({ format: "herd-artifact", formatVersion: 99, files: [] }))).toThrow(/format version 99/);
  });

  it("derives file-safe artifact names", () => {
    expect(artifactSlug("meta-llama/Llama-4-Scout-17B-16E-Instruct")).toBe("Llama-4-Scout-17B-16E-Instruct");
    expect(defaultArtifactName("meta-llama/Llama-4-Scout-17B-16E-Instruct", "Q8_0")).toBe("Llama-4-Scout-17B-16E-Instruct-q8_0");
    expect(artifactSlug("my model (v2)")).toBe("my-model-v2");
  });
});
