/**
 * The compiler on `../shared/fixtures/llama4-tiny-hf` (tiny random Llama4ForConditionalGeneration,
 * BF16): at F16 every tensor of the text GGUF and of the mmproj must equal what llama.cpp's own
 * Llama 4 conversion produces (`llama4-tiny-hf.reference.json`: name, type, shape, sha256 of the
 * data, in order; metadata values), the text model loads in the engine and generates, sharded and
 * `rope_parameters` variants give identical bytes, and recompiling is skipped or byte-identical.
 */
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { compileCheckpoint, type CompileResult } from "../../src/compile/compile.js";
import { hashGgufTensors, metaToJson, readGgufHeader } from "../../src/compile/gguf-inspect.js";
import { MANIFEST_FILE, sha256File } from "../../src/compile/manifest.js";
import { SafetensorsCheckpoint } from "../../src/compile/safetensors.js";
import { InProcessClient } from "../../src/engine/client/in-process-client.js";
import { defaultEngineConfig } from "../../src/engine/config.js";
import { GgmlType } from "../../src/model/gguf/gguf-writer.js";
import { collect, makeRequest } from "../fixtures/engine.js";
import { sharedFixture } from "../fixtures/paths.js";
import { reshardCheckpoint } from "../fixtures/hf-checkpoint.js";

const fixture = sharedFixture("llama4-tiny-hf");
const reference = sharedFixture("llama4-tiny-hf.reference.json");
const FIXTURE = fixture.path;
const REFERENCE = reference.path;
const have = fixture.present && reference.present;

interface RefTensor {
  type: string;
  shape: number[];
  sha256: string;
}
interface Reference {
  text: Record<string, RefTensor>;
  text_metadata: Record<string, unknown>;
  mmproj: Record<string, RefTensor>;
  mmproj_metadata: Record<string, unknown>;
}

let dir: string;
let ref: Reference;
let f16: CompileResult;
const fileOf = (r: CompileResult, role: "model" | "mmproj") => join(r.outDir, r.manifest.files.find((f) => f.role === role)!.path);

beforeAll(async () => {
  if (!have) return;
  dir = await mkdtemp(join(tmpdir(), "herd-compile-"));
  ref = JSON.parse(await readFile(REFERENCE, "utf8")) as Reference;
  f16 = await compileCheckpoint(FIXTURE, join(dir, "f16"), { quant: "F16", name: "hf" });
});
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function tensorsOf(path: string): Promise<Array<[string, RefTensor]>> {
  const h = await readGgufHeader(path);
  const sha = await hashGgufTensors(path, h);
  return h.tensors.map((t) => [t.name, { type: GgmlType[t.type]!, shape: t.shape, sha256: sha.get(t.name)! }]);
}

/** Reference metadata values, compared after the GGUF round trip (f32 keys as read back). */
async function metadataOf(path: string): Promise<Map<string, unknown>> {
  const h = await readGgufHeader(path);
  return new Map([...h.metadata].map(([k, v]) => [k, metaToJson(v)]));
}

describe.skipIf(!have)("compile llama4-tiny-hf at F16", () => {
  it("text GGUF: every tensor matches llama.cpp's conversion (name, type, shape, sha256, order)", async () => {
    const got = await tensorsOf(fileOf(f16, "model"));
    expect(got.map(([n]) => n)).toEqual(Object.keys(ref.text));
    expect(Object.fromEntries(got)).toEqual(ref.text);
  });

  it("text GGUF: the reference metadata keys and values (general.name aside), plus tokenizer and sampling keys", async () => {
    const meta = await metadataOf(fileOf(f16, "model"));
    for (const [k, v] of Object.entries(ref.text_metadata)) expect([k, meta.get(k)]).toEqual([k, v]);
    const tokens = meta.get("tokenizer.ggml.tokens") as string[];
    expect(tokens).toHaveLength(1024);
    expect(tokens[351]).toBe("<|begin_of_text|>");
    expect(tokens[366]).toBe("[PAD366]");
    const types = meta.get("tokenizer.ggml.token_type") as number[];
    expect([types[0], types[351], types[365], types[366]]).toEqual([1, 3, 3, 5]);
    expect(meta.get("tokenizer.ggml.merges")).toHaveLength(95);
    expect(meta.get("tokenizer.ggml.padding_token_id")).toBe(359);
    expect(meta.get("tokenizer.ggml.add_bos_token")).toBe(true);
    expect(meta.get("tokenizer.chat_template")).toContain("<|header_start|>");
    expect(meta.get("general.sampling.temp")).toBeCloseTo(0.6, 6);
    expect(meta.get("general.sampling.top_p")).toBeCloseTo(0.9, 6);
    expect(f16.manifest.model.stopTokenIds).toEqual([352, 355, 356]);
  });

  it("mmproj GGUF: every tensor matches, with the pre-FFN norm named ln2", async () => {
    const got = await tensorsOf(fileOf(f16, "mmproj"));
    expect(got.map(([n]) => n)).toEqual(Object.keys(ref.mmproj));
    expect(Object.fromEntries(got)).toEqual(ref.mmproj);
    expect(got.some(([n]) => n.includes("attn_post_norm"))).toBe(false);
    const meta = await metadataOf(fileOf(f16, "mmproj"));
    for (const [k, v] of Object.entries(ref.mmproj_metadata)) {
      if (k !== "general.name") expect([k, meta.get(k)]).toEqual([k, v]);
    }
  });

  it("writes a manifest with hashes, sizes, versions and the source", async () => {
    const m = f16.manifest;
    expect(m.format).toBe("herd-artifact");
    expect(m.quantization).toBe("F16");
    expect(m.source.kind).toBe("local");
    expect(m.source.files.map((f) => f.path)).toEqual(expect.arrayContaining(["config.json", "tokenizer.json", "model.safetensors"]));
    expect(m.llamaCpp.release).toMatch(/^v\d/);
    expect(m.files.map((f) => f.role)).toEqual(["model", "mmproj"]);
    for (const f of m.files) expect(await sha256File(join(f16.outDir, f.path))).toBe(f.sha256);
    expect(JSON.parse(await readFile(join(f16.outDir, MANIFEST_FILE), "utf8"))).toEqual(m);
  });

  it("sharded checkpoint with transformers-v5 rope_parameters gives byte-identical files", async () => {
    const sharded = join(dir, "sharded-src");
    await reshardCheckpoint(FIXTURE, sharded, 3, (cfg) => {
      const text = { ...(cfg.text_config as Record<string, unknown>) };
      text.rope_parameters = { ...(text.rope_scaling as object), rope_theta: text.rope_theta };
      delete text.rope_scaling;
      delete text.rope_theta;
      return { ...cfg, text_config: text };
    });
    const ckpt = await SafetensorsCheckpoint.open(sharded);
    expect(ckpt.files).toHaveLength(3);
    await ckpt.close();
    const r = await compileCheckpoint(sharded, join(dir, "sharded-out"), { quant: "F16", name: "hf" });
    for (const role of ["model", "mmproj"] as const) expect(await sha256File(fileOf(r, role))).toBe(await sha256File(fileOf(f16, role)));
  });

  it("recompiling is skipped when the manifest matches; --force rewrites byte-identical files", async () => {
    const again = await compileCheckpoint(FIXTURE, f16.outDir, { quant: "F16", name: "hf" });
    expect(again.skipped).toBe(true);
    expect(again.manifest).toEqual(f16.manifest);
    const forced = await compileCheckpoint(FIXTURE, join(dir, "f16-again"), { quant: "F16", name: "hf", force: true });
    expect(forced.skipped).toBe(false);
    expect(forced.manifest.files).toEqual(f16.manifest.files);
    expect(forced.manifest.inputKey).toBe(f16.manifest.inputKey);
  });

  it("BF16 keeps the checkpoint's bytes for untransformed weights", async () => {
    const r = await compileCheckpoint(FIXTURE, join(dir, "bf16"), { quant: "BF16", name: "hf" });
    const h = await readGgufHeader(fileOf(r, "model"));
    const q = h.tensors.find((t) => t.name === "blk.0.attn_q.weight")!;
    expect(GgmlType[q.type]).toBe("BF16");
    const ckpt = await SafetensorsCheckpoint.open(FIXTURE);
    const src = await ckpt.read(ckpt.require("language_model.model.layers.0.self_attn.q_proj.weight"), 0, q.bytes);
    await ckpt.close();
    const gguf = await readFile(fileOf(r, "model"));
    expect(Buffer.compare(gguf.subarray(q.offset, q.offset + q.bytes), Buffer.from(src))).toBe(0);
    expect(r.manifest.files.find((f) => f.role === "mmproj")!.type).toBe("BF16");
  });
});

describe.skipIf(!have)("compiled llama4-tiny-hf in the engine", () => {
  it("F16 text model loads, has the checkpoint's stop ids and chat template, and generates", async () => {
    const client = await InProcessClient.create({
      ...defaultEngineConfig(fileOf(f16, "model")),
      maxModelLen: 256,
      maxNumSeqs: 2,
      threads: 1,
    });
    try {
      expect(client.modelInfo.architecture).toBe("llama4");
      expect(client.modelInfo.vocabSize).toBe(1024);
      expect(client.modelInfo.eogTokenIds).toEqual(expect.arrayContaining([352, 355, 356]));
      expect(client.modelInfo.chatTemplate).toContain("bos_token");
      const prompt = await client.tokenize("the cat sat on the mat");
      expect(prompt[0]).toBe(351); // BOS added
      const out = await collect(client, makeRequest(prompt, { maxTokens: 8, ignoreEos: true }));
      expect(out.tokenIds[0]).toHaveLength(8);
    } finally {
      await client.close();
    }
  });

  it("Q8_0: llama_model_quantize output loads and generates; the mmproj stays F16", async () => {
    const r = await compileCheckpoint(FIXTURE, join(dir, "q8"), { quant: "Q8_0", name: "hf", threads: 1 });
    const h = await readGgufHeader(fileOf(r, "model"));
    expect(metaToJson(h.metadata.get("general.file_type")!)).toBe(7);
    expect(GgmlType[h.tensors.find((t) => t.name === "blk.0.attn_q.weight")!.type]).toBe("Q8_0");
    expect(r.manifest.files.find((f) => f.role === "mmproj")!.type).toBe("F16");
    const again = await compileCheckpoint(FIXTURE, join(dir, "q8-again"), { quant: "Q8_0", name: "hf", threads: 2 });
    expect(again.manifest.files.map((f) => f.sha256)).toEqual(r.manifest.files.map((f) => f.sha256));
    const client = await InProcessClient.create({
      ...defaultEngineConfig(fileOf(r, "model")),
      maxModelLen: 128,
      maxNumSeqs: 1,
      threads: 1,
    });
    try {
      const out = await collect(client, makeRequest(await client.tokenize("hello"), { maxTokens: 4, ignoreEos: true }));
      expect(out.tokenIds[0]).toHaveLength(4);
    } finally {
      await client.close();
    }
  });
});
