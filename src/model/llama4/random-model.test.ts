import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Tiktoken } from "js-tiktoken/lite";
import { readGgufFileInfo } from "node-llama-cpp";
import { getBindings, type Bindings, type ContextPtr, type ModelPtr, type VocabPtr } from "../../native/bindings.js";
import { checkAbi } from "../../native/abi-check.js";
import { installLlamaLog } from "../../native/log.js";
import { readPointers, viewFloat32, viewInt8, viewInt32 } from "../../native/views.js";
import {
  countParams,
  generateLlama4Model,
  LLAMA4_GENERATOR_VERSION,
  planTensors,
  TINY_CONFIG,
  validateConfig,
  type GeneratedModel,
} from "./random-model.js";
import { O200K_RANKS } from "./tokenizer.js";

const sha256 = (path: string) =>
  new Promise<string>((resolve, reject) => {
    const h = createHash("sha256");
    createReadStream(path)
      .on("data", (d) => h.update(d))
      .on("end", () => resolve(h.digest("hex")))
      .on("error", reject);
  });

let dir: string;
let first: GeneratedModel;
let o200k: Tiktoken | undefined;
/** js-tiktoken's o200k_base encoder (built once: it takes a second). */
const reference = () => (o200k ??= new Tiktoken(O200K_RANKS));
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "herd-llama4-"));
  first = await generateLlama4Model(join(dir, "a.gguf"), "tiny");
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("generateLlama4Model", () => {
  it("is deterministic: two generations are byte-identical", async () => {
    const second = await generateLlama4Model(join(dir, "b.gguf"), "tiny");
    expect(second.bytes).toBe(first.bytes);
    expect(await sha256(second.path)).toBe(await sha256(first.path));
  });

  it("writes the llama4 keys and the converter's tensor names and shapes", async () => {
    const info = await readGgufFileInfo(first.path, {
      logWarnings: false,
      ignoreKeys: ["tokenizer.ggml.tokens", "tokenizer.ggml.merges", "tokenizer.ggml.token_type"],
    });
    const md = info.metadata as unknown as Record<string, Record<string, unknown>>;
    expect(md.general).toMatchObject({ architecture: "llama4", name: "herd-llama4-tiny-random", file_type: 1 });
    expect(md.herd).toMatchObject({ random_weights: true, preset: "tiny", generator_version: LLAMA4_GENERATOR_VERSION });
    expect(md.llama4).toMatchObject({
      block_count: 4,
      embedding_length: 128,
      vocab_size: 202048,
      expert_count: 4,
      expert_used_count: 1,
      interleave_moe_layer_step: 2,
      attention: { head_count: 4, head_count_kv: 2, key_length: 32, value_length: 32 },
    });
    const tokenizer = md.tokenizer as Record<string, Record<string, unknown>>;
    expect(tokenizer.ggml).toMatchObject({
      model: "gpt2",
      pre: "llama4",
      bos_token_id: 200000,
      eos_token_id: 200008,
      eot_token_id: 200008,
      eom_token_id: 200007,
      padding_token_id: 200018,
      add_bos_token: true,
    });
    const shapes = Object.fromEntries(info.tensorInfo!.map((t) => [t.name, t.dimensions.map(Number)]));
    expect(shapes["token_embd.weight"]).toEqual([128, 202048]);
    expect(shapes["blk.0.ffn_gate.weight"]).toEqual([128, 512]); // layer 0 dense
    expect(shapes["blk.1.ffn_gate_exps.weight"]).toEqual([128, 256, 4]); // layer 1 MoE
    expect(shapes["blk.1.ffn_down_exps.weight"]).toEqual([256, 128, 4]);
    expect(shapes["blk.3.ffn_down_shexp.weight"]).toEqual([256, 128]);
    expect(shapes["blk.1.ffn_gate.weight"]).toBeUndefined();
    expect(info.tensorInfo).toHaveLength(planTensors(TINY_CONFIG).length);
    expect(first.params).toBe(countParams(TINY_CONFIG));
  });

  it("rejects configs llama.cpp cannot run", () => {
    expect(() => validateConfig({ ...TINY_CONFIG, nLayer: 3 })).toThrow(/at least 4/);
    expect(() => validateConfig({ ...TINY_CONFIG, nHeadKv: 3 })).toThrow(/multiple of nHeadKv/);
    expect(() => validateConfig({ ...TINY_CONFIG, nEmbd: 100 })).toThrow(/multiple of 32/);
  });
});

describe("the tiny model in llama.cpp", () => {
  let b: Bindings;
  let model: ModelPtr;
  let ctx: ContextPtr;
  let vocab: VocabPtr;

  beforeAll(() => {
    b = getBindings("cpu");
    checkAbi(b);
    installLlamaLog(b, () => {}, 4);
    const m = b.modelLoadFromFile(first.path, b.modelDefaultParams());
    if (!m) throw new Error("llama_model_load_from_file failed");
    model = m;
    const cp = b.contextDefaultParams();
    // One thread: a tiny model gains nothing from two, and spinning workers suffer badly on a busy machine.
    Object.assign(cp, { n_ctx: 512, n_seq_max: 4, kv_unified: true, n_threads: 1, n_threads_batch: 1 });
    const c = b.initFromModel(model, cp);
    if (!c) throw new Error("llama_init_from_model failed");
    ctx = c;
    vocab = b.modelGetVocab(model);
  });
  afterAll(() => {
    if (ctx) b.free(ctx);
    if (model) b.modelFree(model);
  });

  const tokenize = (text: string, addSpecial: boolean, parseSpecial: boolean): number[] => {
    const bytes = new TextEncoder().encode(text);
    const out = new Int32Array(bytes.length + 8);
    const n = b.tokenize(vocab, bytes, bytes.length, out, out.length, addSpecial, parseSpecial);
    expect(n).toBeGreaterThanOrEqual(0);
    return Array.from(out.subarray(0, n));
  };

  it("loads with the expected shape", () => {
    expect(b.modelNLayer(model)).toBe(4);
    expect(b.modelNEmbd(model)).toBe(128);
    expect(Number(b.modelNParams(model))).toBe(first.params);
    expect(b.vocabNTokens(vocab)).toBe(202048);
    expect(b.vocabBos(vocab)).toBe(200000);
    expect(b.vocabGetAddBos(vocab)).toBe(true);
    expect(b.modelChatTemplate(model, null)).toContain("<|header_start|>");
  });

  it("tokenizes exactly like the o200k encoder", () => {
    const enc = reference();
    for (const text of [
      "Hello, world! 123 ünïcödé",
      "  two spaces\n\nand lines\r\n",
      "I'M here, we'LL see",
      "中文 日本語 🤖👍🏽 1234567",
      "def f(x):\n\treturn x**2  # ok",
    ]) {
      expect(tokenize(text, false, false), text).toEqual(enc.encode(text));
    }
    expect(tokenize("Hello", true, false)).toEqual([200000, ...enc.encode("Hello")]);
  });

  it("parses special tokens and ends generation on <|end_of_text|>, <|eom|>, <|eot|>", () => {
    expect(tokenize("<|eot|>", false, true)).toEqual([200008]);
    expect(tokenize("<|header_start|>user<|header_end|>", false, true)).toEqual([200005, ...reference().encode("user"), 200006]);
    for (const id of [200001, 200007, 200008]) expect(b.vocabIsEog(vocab, id), `${id}`).toBe(true);
    for (const id of [200000, 200005, 200018, 13225]) expect(b.vocabIsEog(vocab, id), `${id}`).toBe(false);
    expect(b.vocabIsControl(vocab, 200090)).toBe(true);
  });

  it("decodes a prompt and a few greedy steps with finite logits", () => {
    const prompt = tokenize(
      "<|begin_of_text|><|header_start|>user<|header_end|>\n\nHello!<|eot|><|header_start|>assistant<|header_end|>\n\n",
      false,
      true,
    );
    const cap = 32;
    const raw = b.batchInit(cap, 0, 1);
    try {
      const token = viewInt32(raw.token, cap);
      const pos = viewInt32(raw.pos, cap);
      const nSeq = viewInt32(raw.n_seq_id, cap);
      const wantLogits = viewInt8(raw.logits, cap);
      const seqIds = readPointers(raw.seq_id, cap).map((p) => viewInt32(p, 1));
      const nVocab = b.vocabNTokens(vocab);
      const fill = (toks: number[], start: number) => {
        toks.forEach((t, i) => {
          token[i] = t;
          pos[i] = start + i;
          nSeq[i] = 1;
          seqIds[i]![0] = 0;
          wantLogits[i] = i === toks.length - 1 ? 1 : 0;
        });
        raw.n_tokens = toks.length;
      };
      const greedy = (): number => {
        const ptr = b.getLogitsIth(ctx, -1);
        expect(ptr).toBeTruthy();
        const logits = viewFloat32(ptr!, nVocab);
        let best = 0;
        for (let i = 0; i < nVocab; i++) {
          if (!Number.isFinite(logits[i]!)) throw new Error(`logit ${i} is ${logits[i]}`);
          if (logits[i]! > logits[best]!) best = i;
        }
        return best;
      };
      fill(prompt, 0);
      expect(b.decode(ctx, raw)).toBe(0);
      let next = greedy();
      for (let step = 0; step < 8; step++) {
        fill([next], prompt.length + step);
        expect(b.decode(ctx, raw)).toBe(0);
        next = greedy();
      }
      expect(next).toBeGreaterThanOrEqual(0);
    } finally {
      raw.n_tokens = cap;
      b.batchFree(raw);
    }
  });
});
