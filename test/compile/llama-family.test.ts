/**
 * Other Llama-family checkpoints: a synthetic `LlamaForCausalLM` (random BF16, Llama 3 style
 * pre-tokenizer and llama3 RoPE scaling) compiles to arch `llama` with q/k rows permuted from
 * rotate-half to interleaved pairs exactly as llama.cpp's `LlamaModel.permute` does, a generated
 * `rope_freqs`, tied embeddings handled, and loads and generates in the engine.
 */
import { mkdtemp, readFile, rm, writeFile, copyFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { compileCheckpoint, type CompileResult } from "../../src/compile/compile.js";
import { metaToJson, readGgufHeader } from "../../src/compile/gguf-inspect.js";
import { InProcessClient } from "../../src/engine/client/in-process-client.js";
import { defaultEngineConfig } from "../../src/engine/config.js";
import { GgmlType } from "../../src/model/gguf/gguf-writer.js";
import { collect, makeRequest } from "../fixtures/engine.js";
import { sharedFixture } from "../fixtures/paths.js";
import { onesBf16, randomBf16, writeSafetensors, type StTensor } from "../fixtures/hf-checkpoint.js";

const { path: FIXTURE, present: have } = sharedFixture("llama4-tiny-hf");
const H = 64,
  NH = 4,
  NKV = 2,
  HD = 16,
  FF = 128,
  L = 2,
  V = 384;
const LLAMA3_SPLIT =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

let dir: string;
let src: string;
let tensors: StTensor[];
let r: CompileResult;

beforeAll(async () => {
  if (!have) return;
  dir = await mkdtemp(join(tmpdir(), "herd-llama-"));
  src = join(dir, "ckpt");
  const { mkdir } = await import("node:fs/promises");
  await mkdir(src);
  const tok = JSON.parse(await readFile(join(FIXTURE, "tokenizer.json"), "utf8")) as {
    pre_tokenizer: { pretokenizers: Array<{ pattern?: { Regex: string } }> };
  };
  tok.pre_tokenizer.pretokenizers[0]!.pattern = { Regex: LLAMA3_SPLIT };
  await writeFile(join(src, "tokenizer.json"), JSON.stringify(tok));
  await copyFile(join(FIXTURE, "tokenizer_config.json"), join(src, "tokenizer_config.json"));
  await writeFile(
    join(src, "config.json"),
    JSON.stringify({
      architectures: ["LlamaForCausalLM"],
      model_type: "llama",
      hidden_size: H,
      intermediate_size: FF,
      num_hidden_layers: L,
      num_attention_heads: NH,
      num_key_value_heads: NKV,
      head_dim: HD,
      vocab_size: V,
      max_position_embeddings: 4096,
      rms_norm_eps: 1e-5,
      rope_theta: 10000,
      rope_scaling: { rope_type: "llama3", factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 1024 },
      tie_word_embeddings: true,
      bos_token_id: 351,
      eos_token_id: 356,
    }),
  );
  let seed = 1;
  const w = (name: string, shape: number[]): StTensor => ({
    name,
    dtype: "BF16",
    shape,
    data: randomBf16(
      shape.reduce((a, b) => a * b, 1),
      seed++,
      0.05,
    ),
  });
  tensors = [w("model.embed_tokens.weight", [V, H])];
  for (let i = 0; i < L; i++) {
    const p = `model.layers.${i}.`;
    tensors.push(
      { name: `${p}input_layernorm.weight`, dtype: "BF16", shape: [H], data: onesBf16(H) },
      w(`${p}self_attn.q_proj.weight`, [NH * HD, H]),
      w(`${p}self_attn.k_proj.weight`, [NKV * HD, H]),
      w(`${p}self_attn.v_proj.weight`, [NKV * HD, H]),
      w(`${p}self_attn.o_proj.weight`, [H, NH * HD]),
      { name: `${p}post_attention_layernorm.weight`, dtype: "BF16", shape: [H], data: onesBf16(H) },
      w(`${p}mlp.gate_proj.weight`, [FF, H]),
      w(`${p}mlp.up_proj.weight`, [FF, H]),
      w(`${p}mlp.down_proj.weight`, [H, FF]),
      { name: `${p}self_attn.rotary_emb.inv_freq`, dtype: "F32", shape: [HD / 2], data: new Uint8Array(HD * 2) },
    );
  }
  tensors.push({ name: "model.norm.weight", dtype: "BF16", shape: [H], data: onesBf16(H) });
  await writeSafetensors(join(src, "model.safetensors"), tensors);
  r = await compileCheckpoint(src, join(dir, "out"), { quant: "BF16", name: "tiny-llama" });
});
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** llama.cpp's `LlamaModel.permute` on rows of `cols` 16-bit values. */
function permute(data: Uint8Array, rows: number, cols: number, nHead: number): Buffer {
  const out = Buffer.alloc(data.length);
  const D = rows / nHead;
  const rb = cols * 2;
  for (let h = 0; h < nHead; h++)
    for (let i = 0; i < 2; i++)
      for (let j = 0; j < D / 2; j++)
        out.set(data.subarray((h * D + i * (D / 2) + j) * rb, (h * D + i * (D / 2) + j + 1) * rb), (h * D + j * 2 + i) * rb);
  return out;
}

describe.skipIf(!have)("LlamaForCausalLM → GGUF (arch llama)", () => {
  it("writes arch llama metadata, rope_freqs, the llama-bpe pre-tokenizer, and no output.weight for tied embeddings", async () => {
    const file = join(r.outDir, r.manifest.files[0]!.path);
    const h = await readGgufHeader(file);
    const meta = (k: string) => metaToJson(h.metadata.get(k)!);
    expect(meta("general.architecture")).toBe("llama");
    expect([
      meta("llama.block_count"),
      meta("llama.embedding_length"),
      meta("llama.feed_forward_length"),
      meta("llama.attention.head_count_kv"),
    ]).toEqual([L, H, FF, NKV]);
    expect(meta("tokenizer.ggml.pre")).toBe("llama-bpe");
    expect(h.tensors.map((t) => t.name)).not.toContain("output.weight");
    expect(h.tensors.some((t) => t.name.includes("rotary_emb"))).toBe(false);
    const rope = h.tensors.find((t) => t.name === "rope_freqs.weight")!;
    expect([GgmlType[rope.type], rope.shape]).toEqual(["F32", [HD / 2]]);
    expect(r.manifest.model.architecture).toBe("llama");
  });

  it("permutes q and k rows like llama.cpp (k with the KV head count); other weights are copied", async () => {
    const file = join(r.outDir, r.manifest.files[0]!.path);
    const h = await readGgufHeader(file);
    const bytes = await readFile(file);
    const at = (name: string) => {
      const t = h.tensors.find((x) => x.name === name)!;
      return bytes.subarray(t.offset, t.offset + t.bytes);
    };
    const q = tensors.find((t) => t.name === "model.layers.1.self_attn.q_proj.weight")!;
    const k = tensors.find((t) => t.name === "model.layers.1.self_attn.k_proj.weight")!;
    const v = tensors.find((t) => t.name === "model.layers.1.self_attn.v_proj.weight")!;
    expect(Buffer.compare(at("blk.1.attn_q.weight"), permute(q.data, NH * HD, H, NH))).toBe(0);
    expect(Buffer.compare(at("blk.1.attn_k.weight"), permute(k.data, NKV * HD, H, NKV))).toBe(0);
    expect(Buffer.compare(at("blk.1.attn_v.weight"), Buffer.from(v.data))).toBe(0);
  });

  it("loads in the engine and generates", async () => {
    const client = await InProcessClient.create({
      ...defaultEngineConfig(join(r.outDir, r.manifest.files[0]!.path)),
      maxModelLen: 128,
      maxNumSeqs: 1,
      threads: 1,
    });
    try {
      expect(client.modelInfo.architecture).toBe("llama");
      const out = await collect(client, makeRequest(await client.tokenize("hello world"), { maxTokens: 5, ignoreEos: true }));
      expect(out.tokenIds[0]).toHaveLength(5);
    } finally {
      await client.close();
    }
  });
});
