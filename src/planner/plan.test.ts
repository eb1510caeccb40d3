import { describe, expect, it } from "vitest";
import { findInstance, INSTANCE_CATALOG, type InstanceType } from "./instances.js";
import { KNOWN_MODEL_CONFIGS, knownModelSpec } from "./known-models.js";
import { specFromHfConfig } from "./model-spec.js";
import { countParams, kvBytes, kvBytesNaive, kvShape, maxTokensForKv, weightBytes } from "./params.js";
import type { ModelSpec } from "./model-spec.js";
import {
  BACKEND_DTYPES,
  defaultDtype,
  fmtBytes,
  makePlan,
  PlanError,
  VLLM_GPU_MEMORY_UTILIZATION,
  VLLM_NON_KV_BYTES_PER_GPU,
  whatFits,
} from "./plan.js";
import { hourlyPrice } from "./prices.js";

const scout = knownModelSpec("meta-llama/Llama-4-Scout-17B-16E-Instruct")!;
const maverick = knownModelSpec("maverick")!;
const inst = (name: string): InstanceType => findInstance(name)!;
const GiB = 2 ** 30;
const MiB = 2 ** 20;

describe("parameter counts (llama4.md §2)", () => {
  it("Scout: 108,641,793,536 total, 17,172,894,720 active", () => {
    const p = countParams(scout);
    expect(p.total).toBe(108_641_793_536);
    expect(p.text).toBe(107_769_861_120);
    expect(p.vision).toBe(871_932_416);
    expect(p.routedExperts).toBe(96_636_764_160);
    expect(p.active).toBe(17_172_894_720);
  });

  it("Maverick: 401,583,781,376 total, 17,184,691,200 active", () => {
    const p = countParams(maverick);
    expect(p.total).toBe(401_583_781_376);
    expect(p.text).toBe(400_711_848_960);
    expect(p.routedExperts).toBe(386_547_056_640);
    expect(p.active).toBe(17_184_691_200);
    expect(maverick.moeLayers).toEqual(Array.from({ length: 24 }, (_, i) => 2 * i + 1));
  });

  it("a config.json with explicit moe_layers / no_rope_layers gives the same shape as the derived one", () => {
    const cfg = structuredClone(KNOWN_MODEL_CONFIGS["meta-llama/Llama-4-Scout-17B-16E-Instruct"]) as {
      text_config: Record<string, unknown>;
    };
    cfg.text_config["moe_layers"] = Array.from({ length: 48 }, (_, i) => i);
    cfg.text_config["no_rope_layers"] = Array.from({ length: 48 }, (_, i) => ((i + 1) % 4 === 0 ? 0 : 1));
    const spec = specFromHfConfig(cfg, "scout-explicit");
    expect(spec.moeLayers).toEqual(scout.moeLayers);
    expect(spec.chunkedLayers).toEqual(scout.chunkedLayers);
    expect(spec.chunkedLayers).toHaveLength(36);
    expect(countParams(spec).total).toBe(108_641_793_536);
  });

  it("a dense Llama config counts attention + SwiGLU + embeddings", () => {
    // Llama-3-8B-like shape, worked by hand: 32 × (4096·4096·2 + 4096·1024·2 + 3·4096·14336 + 2·4096) + 2·128256·4096 + 4096
    const spec = specFromHfConfig(
      {
        model_type: "llama",
        hidden_size: 4096,
        num_hidden_layers: 32,
        num_attention_heads: 32,
        num_key_value_heads: 8,
        intermediate_size: 14336,
        vocab_size: 128256,
        max_position_embeddings: 8192,
      },
      "llama3-8b",
    );
    expect(countParams(spec).total).toBe(8_030_261_248);
    expect(kvShape(spec).chunk).toBeNull();
    expect(kvBytes(kvShape(spec), 1000)).toBe(1000 * 32 * 2 * 8 * 128 * 2);
  });
});

describe("weight bytes: the guide's 'GiB' are GB", () => {
  it.each([
    [scout, "bf16", "217.3 GB (202.4 GiB)"],
    [maverick, "bf16", "803.2 GB (748.0 GiB)"],
    [scout, "fp8", "108.6 GB (101.2 GiB)"],
    [maverick, "fp8", "401.6 GB (374.0 GiB)"],
  ] as const)("%s %s", (model, dtype, text) => {
    expect(fmtBytes(weightBytes(model, dtype))).toBe(text);
  });

  it("bf16 is exactly two bytes per parameter", () => {
    expect(weightBytes(scout, "bf16")).toBe(217_283_587_072);
    expect(weightBytes(maverick, "bf16")).toBe(803_167_562_752);
  });
});

describe("KV cache, chunked-attention aware", () => {
  const kv = kvShape(scout);
  it("per token: 4,096 B per layer; 49,152 B global + 147,456 B chunked (bf16)", () => {
    expect(kv.perLayerPerToken).toBe(4096);
    expect(kv.globalPerToken).toBe(49_152);
    expect(kv.chunkedPerToken).toBe(147_456);
    expect(kv.chunk).toBe(8192);
    expect(kvShape(maverick)).toEqual(kv);
  });

  it.each([
    [4096, 768 * MiB, 768 * MiB],
    [8192, 1.5 * GiB, 1.5 * GiB],
    [16_384, 1.875 * GiB, 3 * GiB],
    [32_768, 2.625 * GiB, 6 * GiB],
    [131_072, 7.125 * GiB, 24 * GiB],
    [262_144, 13.125 * GiB, 48 * GiB],
  ])("KV_bytes(%i) = 49,152·L + 147,456·min(L, 8192)", (L, aware, naive) => {
    expect(kvBytes(kv, L)).toBe(49_152 * L + 147_456 * Math.min(L, 8192));
    expect(kvBytes(kv, L)).toBe(aware);
    expect(kvBytesNaive(kv, L)).toBe(naive);
    expect(kvBytes(kvShape(scout, "fp8"), L)).toBe(aware / 2);
  });

  it("model maxima: 49.1 GiB at 1M (Maverick), 481.1 GiB at 10M (Scout)", () => {
    expect((kvBytes(kv, 1_048_576) / GiB).toFixed(1)).toBe("49.1");
    expect((kvBytes(kv, 10_485_760) / GiB).toFixed(1)).toBe("481.1");
  });

  it("maxTokensForKv inverts kvBytes", () => {
    for (const L of [1, 100, 8191, 8192, 8193, 16_384, 1_000_000]) {
      expect(maxTokensForKv(kv, kvBytes(kv, L))).toBe(L);
      expect(maxTokensForKv(kv, kvBytes(kv, L) - 1)).toBe(L - 1);
    }
    expect(maxTokensForKv(kv, 0)).toBe(0);
  });
});

describe("fit decisions, worked by hand", () => {
  it("Scout bf16 on trn2.48xlarge, 16K × 1: 16 devices, TP 64, KV replicated 8×", () => {
    const p = makePlan({ model: scout, instance: inst("trn2.48xlarge"), maxModelLen: 16_384, maxNumSeqs: 1 });
    expect(p.backend).toBe("vllm-neuron");
    expect(p.devices).toBe(16);
    expect(p.tensorParallelSize).toBe(64);
    expect(p.deviceResource).toBe("aws.amazon.com/neuron");
    expect(p.kvBytesPerSeq).toBe(2_013_265_920); // 1.875 GiB
    expect(p.kvReplication).toBe(8);
    expect(p.kvBytesTotal).toBe(16_106_127_360); // 15 GiB, llama4.md §2.4 (240 MiB per rank × 64)
    expect(p.memoryBytes).toBe(1_536e9);
    expect(p.usedBytes).toBe(217_283_587_072 + 16_106_127_360 + 153.6e9);
    expect(p.fits).toBe(true);
    // (1.536e12 − 153.6e9 − 217,283,587,072) / 8 = 145,639,551,616 B per sequence of KV
    // → L = (145,639,551,616 − 147,456 · 8192) / 49,152 = 2,938,468.1
    expect(p.maxModelLenThatFits).toBe(2_938_468);
    expect(p.maxNumSeqsThatFits).toBe(Math.floor(1_165_116_412_928 / (2_013_265_920 * 8)));
    // llama4.md §2.3/§2.4: ≈ 3.4 GB of bf16 weights and 240 MiB of KV per rank at TP 64, 24 GB per logical core.
    expect((p.perRank!.weightBytes / 1e9).toFixed(1)).toBe("3.4");
    expect(p.perRank!.kvBytes).toBe(240 * MiB);
    expect(p.perRank!.memoryBytes).toBe(24e9);
    const m = makePlan({ model: maverick, instance: inst("trn2.48xlarge") });
    expect(m.perRank!.weightBytes).toBe(12_549_493_168); // 12.55 GB, llama4.md rounds to 12.6
  });

  it("Maverick bf16 fits trn2.48xlarge (972.9 GB of 1,536 GB) but not p5.48xlarge (803 GB > 640 GB)", () => {
    const trn2 = makePlan({ model: maverick, instance: inst("trn2.48xlarge") });
    expect(trn2.fits).toBe(true);
    expect(trn2.usedBytes).toBe(803_167_562_752 + 16_106_127_360 + 153.6e9);
    const p5 = makePlan({ model: maverick, instance: inst("p5.48xlarge"), dtype: "bf16", maxNumSeqs: 1 });
    expect(p5.backend).toBe("herd");
    expect(p5.fits).toBe(false);
    expect(p5.devices).toBe(8);
    expect(p5.maxModelLenThatFits).toBe(0);
    expect(p5.maxNumSeqsThatFits).toBe(0);
  });

  it("Maverick bf16 on p5e.48xlarge (H200) takes all 8 GPUs: 4 × 141 GB is below the weights", () => {
    const p = makePlan({ model: maverick, instance: inst("p5e.48xlarge"), dtype: "bf16", maxNumSeqs: 16 });
    // 803.17 GB + 16 × 2.013 GB + 112.8 GB = 948.2 GB ≤ 1,128 GB
    expect(p.devices).toBe(8);
    expect(p.tensorParallelSize).toBeNull();
    expect(p.kvReplication).toBe(1);
    expect(p.usedBytes).toBe(803_167_562_752 + 16 * 2_013_265_920 + 112.8e9);
    expect(p.fits).toBe(true);
  });

  it("Scout bf16 on p5.48xlarge, 16 × 16K: the fewest GPUs that fit is 4", () => {
    // 2 GPUs: 160 GB < 217 GB. 4 GPUs: 217.28 + 32.21 + 32 = 281.5 GB ≤ 320 GB.
    const p = makePlan({ model: scout, instance: inst("p5.48xlarge"), dtype: "bf16", maxNumSeqs: 16, maxModelLen: 16_384 });
    expect(p.devices).toBe(4);
    expect(p.memoryBytes).toBe(320e9);
    expect(p.fits).toBe(true);
  });

  it("Scout on trn1.32xlarge: TP 32, KV replicated 4×; Maverick does not fit; inf2.48xlarge: TP 24", () => {
    const s = makePlan({ model: scout, instance: inst("trn1.32xlarge") });
    expect([s.devices, s.tensorParallelSize, s.kvReplication, s.fits]).toEqual([16, 32, 4, true]);
    expect(makePlan({ model: maverick, instance: inst("trn1.32xlarge") }).fits).toBe(false);
    const i = makePlan({ model: scout, instance: inst("inf2.48xlarge") });
    expect([i.devices, i.tensorParallelSize, i.kvReplication, i.fits]).toEqual([12, 24, 3, true]);
  });

  it("Scout bf16 on CPU r7i.48xlarge fits; on m7i.48xlarge (768 GiB) only up to a batch limit", () => {
    const r = makePlan({ model: scout, instance: inst("r7i.48xlarge"), dtype: "bf16", maxNumSeqs: 16 });
    expect(r.fits).toBe(true);
    expect(r.devices).toBe(0);
    const m = makePlan({ model: scout, instance: inst("m7i.48xlarge"), dtype: "bf16", maxModelLen: 131_072, maxNumSeqs: 64 });
    // budget: 768 GiB × 0.9 − 217.28 GB = 524.9 GB; 64 × 7.125 GiB = 489.6 GB fits, 68 sequences at most
    const budget = 768 * GiB * 0.9 - 217_283_587_072;
    expect(m.fits).toBe(true);
    expect(m.maxNumSeqsThatFits).toBe(Math.floor(budget / (7.125 * GiB)));
    expect(m.maxNumSeqsThatFits).toBe(68);
  });

  it("the guide's 32 Neuron devices on a 16-device trn2.48xlarge is refused", () => {
    expect(() => makePlan({ model: scout, instance: inst("trn2.48xlarge"), devices: 32 })).toThrow(PlanError);
    const half = makePlan({ model: scout, instance: inst("trn2.48xlarge"), devices: 8 });
    expect([half.devices, half.tensorParallelSize]).toEqual([8, 32]);
  });

  it("formats a backend cannot serve are problems, not fits", () => {
    expect(makePlan({ model: scout, instance: inst("trn2.48xlarge"), dtype: "q4_k_m" }).problems).toHaveLength(1);
    expect(makePlan({ model: scout, instance: inst("p5.48xlarge"), dtype: "fp8" }).problems).toHaveLength(1);
  });

  it("arm64 (Graviton) CPU instances serve herd: its CPU image is built for linux/arm64 too", () => {
    const p = makePlan({ model: scout, instance: inst("m7g.16xlarge"), dtype: "q4_k_m" });
    expect([p.backend, p.fits, p.problems]).toEqual(["herd", true, []]);
    expect(makePlan({ model: scout, instance: inst("r7g.16xlarge") }).problems).toEqual([]);
  });
});

describe("default weight type: the backend's own", () => {
  it("herd sizes q8_0 (what herd compile writes); vLLM and vLLM-Neuron bf16", () => {
    expect([defaultDtype("herd"), defaultDtype("vllm"), defaultDtype("vllm-neuron")]).toEqual(["q8_0", "bf16", "bf16"]);
    expect(makePlan({ model: scout, instance: inst("p5.48xlarge") }).dtype).toBe("q8_0");
    expect(makePlan({ model: scout, instance: inst("m7i.48xlarge") }).dtype).toBe("q8_0");
    expect(makePlan({ model: scout, instance: inst("trn2.48xlarge") }).dtype).toBe("bf16");
    expect(makePlan({ model: scout, instance: inst("p5.48xlarge"), backend: "vllm" }).dtype).toBe("bf16");
  });

  it("Maverick on p5.48xlarge fits by default: q8_0, 426.7 GB + 32.2 GB KV + 64 GB headroom of 640 GB", () => {
    const p = makePlan({ model: maverick, instance: inst("p5.48xlarge") });
    expect([p.backend, p.dtype, p.devices, p.fits]).toEqual(["herd", "q8_0", 8, true]);
    expect(p.weightBytes).toBe(Math.ceil((401_583_781_376 * 34) / 32));
    expect(p.usedBytes).toBe(p.weightBytes + 16 * 2_013_265_920 + 64e9);
  });

  it("a backend that does not run on the instance is refused", () => {
    expect(() => makePlan({ model: scout, instance: inst("trn2.48xlarge"), backend: "vllm" })).toThrow(/vllm does not run on trn2/);
    expect(() => makePlan({ model: scout, instance: inst("m7i.48xlarge"), backend: "vllm" })).toThrow(/use herd$/);
    expect(() => makePlan({ model: scout, instance: inst("p5.48xlarge"), backend: "vllm-neuron" })).toThrow(PlanError);
  });
});

describe("vLLM's memory model (backend vllm)", () => {
  const util = VLLM_GPU_MEMORY_UTILIZATION;
  const nonKv = VLLM_NON_KV_BYTES_PER_GPU;
  const fullKv = 3 * GiB; // 16K tokens × 196,608 B: every layer at full length

  it("Scout bf16 on p5.48xlarge, 1 × 16K: TP 4, 11.2 GB of KV pool per GPU", () => {
    const p = makePlan({ model: scout, instance: inst("p5.48xlarge"), backend: "vllm", maxNumSeqs: 1 });
    // TP 2: 160 GB < 217 GB of weights. TP 4: 217.28 + 3.22 + 32 + 4 × 6.44 = 278.3 GB ≤ 320 GB.
    expect([p.devices, p.tensorParallelSize, p.fits]).toEqual([4, 4, true]);
    expect(p.kvBytesPerSeq).toBe(fullKv);
    expect(p.usedBytes).toBe(217_283_587_072 + fullKv + 32e9 + 4 * nonKv);
    const perGpu = util * 80e9 - 217_283_587_072 / 4 - nonKv;
    expect(p.vllm!.kvCacheBytesPerGpu).toBe(perGpu);
    expect(p.vllm!.kvCacheTokens).toBe(Math.floor((4 * perGpu) / 196_608));
    expect(p.vllm!.kvCacheTokens).toBe(228_610);
    expect(p.maxNumSeqsThatFits).toBe(13);
    expect([p.vllm!.quantization, p.vllm!.kvCacheDtype]).toEqual([null, "auto"]);
    expect(p.warnings.join()).toMatch(/every layer at full length/);
  });

  it("Scout bf16 on p5.48xlarge, 16 × 16K: TP 4 is short, TP 8 fits", () => {
    const p = makePlan({ model: scout, instance: inst("p5.48xlarge"), backend: "vllm", maxNumSeqs: 16 });
    // TP 4: 217.28 + 16 × 3.22 + 32 + 25.8 = 326.6 GB > 320 GB.
    expect([p.devices, p.tensorParallelSize, p.fits]).toEqual([8, 8, true]);
    expect(p.kvReplication).toBe(1);
  });

  it("Maverick fp8 on p5.48xlarge: TP 8, 401.6 GB of weights, 15.4 GB of KV pool per GPU", () => {
    const p = makePlan({ model: maverick, instance: inst("p5.48xlarge"), backend: "vllm", dtype: "fp8" });
    expect([p.devices, p.tensorParallelSize, p.fits, p.weightBytes]).toEqual([8, 8, true, 401_583_781_376]);
    expect(p.vllm!.quantization).toBe("fp8");
    expect(p.vllm!.kvCacheBytesPerGpu).toBe(util * 80e9 - 401_583_781_376 / 8 - nonKv);
    expect(p.usedBytes).toBe(401_583_781_376 + 16 * fullKv + 64e9 + 8 * nonKv);
    expect(makePlan({ model: maverick, instance: inst("p5.48xlarge"), backend: "vllm" }).fits).toBe(false);
  });

  it("agrees with vLLM's Llama 4 launch post: 8 × H100 hold Scout at 1M tokens, 8 × H200 at 3.6M", () => {
    // blog.vllm.ai/2025/04/05/llama4.html: --max-model-len 1000000 (8 × H100), 3600000 (8 × H200), Scout bf16, TP 8.
    const h100 = makePlan({ model: scout, instance: inst("p5.48xlarge"), backend: "vllm", maxNumSeqs: 1, devices: 8 });
    const h200 = makePlan({ model: scout, instance: inst("p5e.48xlarge"), backend: "vllm", maxNumSeqs: 1, devices: 8 });
    expect(h100.vllm!.kvCacheTokens).toBeGreaterThan(1_000_000);
    expect(h200.vllm!.kvCacheTokens).toBeGreaterThan(3_600_000);
    expect(h200.vllm!.kvCacheTokens).toBeLessThan(4_000_000);
  });

  it("fp8 KV halves the per-token cost; --gpu-memory-utilization shrinks the pool; GGUF and llama.cpp types are problems", () => {
    const fp8 = makePlan({ model: scout, instance: inst("p5.48xlarge"), backend: "vllm", kvDtype: "fp8", maxNumSeqs: 1, devices: 4 });
    expect(fp8.vllm!.kvCacheDtype).toBe("fp8");
    expect(fp8.vllm!.kvCacheTokens).toBe(Math.floor((4 * fp8.vllm!.kvCacheBytesPerGpu) / 98_304));
    const low = makePlan({ model: scout, instance: inst("p5.48xlarge"), backend: "vllm", gpuMemoryUtilization: 0.8, devices: 4 });
    expect(low.vllm!.kvCacheBytesPerGpu).toBe(0.8 * 80e9 - 217_283_587_072 / 4 - nonKv);
    expect(() => makePlan({ model: scout, instance: inst("p5.48xlarge"), backend: "vllm", gpuMemoryUtilization: 1.5 })).toThrow(
      /gpu-memory-utilization/,
    );
    expect(makePlan({ model: scout, instance: inst("p5.48xlarge"), backend: "vllm", dtype: "q8_0" }).problems[0]).toMatch(/llama\.cpp/);
    expect(makePlan({ model: scout, instance: inst("p4d.24xlarge"), backend: "vllm", dtype: "fp8" }).warnings.join()).toMatch(/Marlin/);
  });
});

describe("vLLM's problems (backend vllm): what herd deploy --backend vllm refuses", () => {
  const p5 = inst("p5.48xlarge");

  it("llama.cpp's formats are herd's, fp8 is vLLM's", () => {
    expect(makePlan({ model: scout, instance: p5, backend: "vllm", dtype: "q4_k_m" }).problems).toEqual([
      expect.stringMatching(/^q4_k_m is a llama\.cpp format: vLLM serves bf16 or fp8/),
    ]);
    expect(makePlan({ model: scout, instance: p5, dtype: "fp8" }).problems).not.toEqual([]); // herd (llama.cpp) has no fp8 …
    expect(makePlan({ model: scout, instance: p5, backend: "vllm", dtype: "fp8" }).problems).toEqual([]); // … vLLM does
  });

  it("tensor parallelism must divide the attention heads: 6 GPUs do not divide Llama 4's 40", () => {
    const six = makePlan({ model: scout, instance: p5, backend: "vllm", devices: 6 });
    expect(six.tensorParallelSize).toBe(6);
    expect(six.problems).toEqual([expect.stringMatching(/40 attention heads over tensor parallelism = 6 GPUs/)]);
    expect(makePlan({ model: scout, instance: p5, backend: "vllm", devices: 8 }).problems).toEqual([]);
  });

  it("a GGUF is herd's; vllm off NVIDIA is refused", () => {
    const gguf: ModelSpec = { ...scout, source: "gguf" };
    expect(makePlan({ model: gguf, instance: p5, backend: "vllm" }).problems).toEqual([
      expect.stringMatching(/^backend vllm serves Hugging Face checkpoints, not GGUF files/),
    ]);
    expect(() => makePlan({ model: scout, instance: inst("trn2.48xlarge"), backend: "vllm" })).toThrow(
      /^--backend vllm does not run on trn2\.48xlarge, Trainium2 \(neuron\): use vllm-neuron$/,
    );
  });

  it("--quantization fp8 for fp8 weights from a bf16 checkpoint, not for one that is fp8 already", () => {
    expect(makePlan({ model: maverick, instance: p5, backend: "vllm", dtype: "fp8" }).vllm!.quantization).toBe("fp8");
    const fp8Checkpoint: ModelSpec = { ...maverick, id: "meta-llama/Llama-4-Maverick-17B-128E-Instruct-FP8" };
    const p = makePlan({ model: fp8Checkpoint, instance: p5, backend: "vllm", dtype: "fp8" });
    expect([p.vllm!.quantization, p.weightBytes, p.problems]).toEqual([null, 401_583_781_376, []]);
  });
});

describe("what fits instead", () => {
  it("Maverick bf16 on p5.48xlarge (herd) names q8_0 and q4_k_m on the same instance, q8_0 fitting", () => {
    const p = makePlan({ model: maverick, instance: inst("p5.48xlarge"), dtype: "bf16" });
    const w = whatFits(p);
    expect(w.smallerDtypes.map((o) => [o.dtype, o.fits, o.flags])).toEqual([
      ["q8_0", true, "--dtype q8_0"],
      ["q4_k_m", true, "--dtype q4_k_m"],
    ]);
    expect(w.smallerDtypes[0]!.hourlyUsd).toBe(hourlyPrice("p5.48xlarge"));
    expect(w.instances.map((o) => o.instance)).toContain("p5e.48xlarge");
    expect(w.instances.find((o) => o.instance === "trn2.48xlarge")).toMatchObject({ backend: "vllm-neuron", dtype: "bf16", fits: true });
  });

  it("Maverick bf16 on p5.48xlarge (vllm) names fp8, which fits", () => {
    const w = whatFits(makePlan({ model: maverick, instance: inst("p5.48xlarge"), backend: "vllm" }));
    expect(w.smallerDtypes.map((o) => [o.dtype, o.backend, o.fits, o.tensorParallelSize])).toEqual([["fp8", "vllm", true, 8]]);
    expect(w.instances.find((o) => o.instance === "p5e.48xlarge")).toMatchObject({
      backend: "vllm",
      flags: "--instance p5e.48xlarge --backend vllm",
    });
  });

  it("Scout on g5.xlarge lists bigger instances with prices: accelerators first, then CPU, cheapest first", () => {
    const p = makePlan({ model: scout, instance: inst("g5.xlarge") });
    expect(p.fits).toBe(false);
    const w = whatFits(p);
    expect(w.smallerDtypes.map((o) => [o.dtype, o.fits])).toEqual([["q4_k_m", false]]);
    const list = w.instances;
    expect(list.length).toBeGreaterThan(5);
    expect(list.every((o) => o.fits && o.memoryBytes > 24e9)).toBe(true);
    const firstCpu = list.findIndex((o) => o.accelerator === "cpu");
    expect(firstCpu).toBeGreaterThan(0);
    expect(list.slice(firstCpu).every((o) => o.accelerator === "cpu")).toBe(true);
    const priced = list.slice(0, firstCpu).filter((o) => o.hourlyUsd !== null);
    expect(priced.length).toBeGreaterThan(3);
    expect(priced.map((o) => o.hourlyUsd)).toEqual([...priced.map((o) => o.hourlyUsd!)].sort((a, b) => a - b));
    expect(list[0]).toMatchObject({ instance: "g6e.12xlarge", dtype: "q8_0", hourlyUsd: hourlyPrice("g6e.12xlarge") });
    expect(list.find((o) => o.instance === "trn2.48xlarge")).toMatchObject({ hourlyUsd: null });
  });

  it("a GGUF that does not fit: smaller types as a recompile, other instances for herd only", () => {
    const total = countParams(scout).total;
    const gguf: ModelSpec = {
      ...scout,
      source: "gguf",
      vision: null,
      measured: { totalParams: total, activeParams: 17e9, weightBytes: 2 * total, fileType: "bf16" },
    };
    const p = makePlan({ model: gguf, instance: inst("g6e.12xlarge") });
    expect(p.fits).toBe(false);
    const w = whatFits(p);
    expect(w.smallerDtypes.map((o) => [o.dtype, o.weightBytesExact, o.flags])).toEqual([
      ["q8_0", false, "herd compile --quant Q8_0 (then plan the new artifact)"],
      ["q4_k_m", false, "herd compile --quant Q4_K_M (then plan the new artifact)"],
    ]);
    expect(w.smallerDtypes[0]!.weightBytes).toBe(Math.ceil((total * 34) / 32));
    expect(w.instances.length).toBeGreaterThan(0);
    expect(w.instances.every((o) => o.backend === "herd" && o.dtype === "bf16")).toBe(true);
    expect(BACKEND_DTYPES.herd).not.toContain("fp8");
  });
});

describe("instance catalog", () => {
  it("covers the families the issue names, each with a source", () => {
    for (const name of [
      "trn2.48xlarge",
      "trn1.32xlarge",
      "inf2.48xlarge",
      "p5.48xlarge",
      "p5e.48xlarge",
      "p5en.48xlarge",
      "p4d.24xlarge",
      "g6e.48xlarge",
      "g5.48xlarge",
      "m7i.48xlarge",
    ]) {
      expect(findInstance(name), name).not.toBeNull();
    }
    for (const i of INSTANCE_CATALOG) {
      expect(i.sources.length, i.name).toBeGreaterThan(0);
      if (i.accelerator === "cpu") expect(i.devices).toBe(0);
      else expect(i.devices * i.memoryPerDeviceBytes).toBeGreaterThan(0);
    }
    expect(new Set(INSTANCE_CATALOG.map((i) => i.name)).size).toBe(INSTANCE_CATALOG.length);
  });

  it("trn2.48xlarge: 16 devices, 64 logical cores, 1.536 TB", () => {
    const t = inst("trn2.48xlarge");
    expect([t.devices, t.devices * t.coresPerDevice, t.devices * t.memoryPerDeviceBytes]).toEqual([16, 64, 1.536e12]);
  });
});
