import { Command } from "commander";
import { copyFile, mkdir, mkdtemp, rm, stat, writeFile } from "node:fs/promises";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { register as registerCompile } from "../../src/cli/commands/compile.js";
import { loadModelSpec, planCommand } from "../../src/cli/commands/plan.js";
import { DEFAULT_COMPILE_QUANT } from "../../src/compile/compile.js";
import { MANIFEST_FILE, sha256File } from "../../src/compile/manifest.js";
import { ensureEmbeddedModel } from "../../src/model/embedded.js";
import { countParams as countRandomParams, TINY_CONFIG } from "../../src/model/llama4/random-model.js";
import { KNOWN_MODEL_CONFIGS } from "../../src/planner/known-models.js";
import { countParams } from "../../src/planner/params.js";
import { defaultDtype, type Plan, type WhatFits } from "../../src/planner/plan.js";

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "herd-plan-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("herd plan", () => {
  it("without --model prints the guide's table for Scout and Maverick with GB and GiB", async () => {
    const { text, ok } = await planCommand({ instance: "trn2.48xlarge" });
    expect(ok).toBe(true);
    const scout = text.split("\n").find((l) => l.startsWith("meta-llama/Llama-4-Scout"))!;
    const maverick = text.split("\n").find((l) => l.startsWith("meta-llama/Llama-4-Maverick"))!;
    expect(scout.split(/\s{2,}/)).toEqual([
      "meta-llama/Llama-4-Scout-17B-16E-Instruct",
      "17.2B (17,172,894,720)",
      "108.6B (108,641,793,536)",
      "16",
      "bf16",
      "217.3",
      "202.4",
      "trn2.48xlarge",
      "16",
      "64",
      "yes",
    ]);
    expect(maverick.split(/\s{2,}/)).toEqual([
      "meta-llama/Llama-4-Maverick-17B-128E-Instruct",
      "17.2B (17,184,691,200)",
      "401.6B (401,583,781,376)",
      "128",
      "bf16",
      "803.2",
      "748.0",
      "trn2.48xlarge",
      "16",
      "64",
      "yes",
    ]);
    expect(text).toMatch(/"~220 GiB" and "~800 GiB" are decimal GB/);
    expect(text).toMatch(/16 Neuron devices .* not the guide's 32/);
  });

  it("--model with a known id prints the detailed plan; a plan that does not fit is not ok and names alternatives", async () => {
    const good = await planCommand({ model: "meta-llama/Llama-4-Scout-17B-16E-Instruct", instance: "trn2.48xlarge" });
    expect(good.ok).toBe(true);
    expect(good.text).toMatch(/aws\.amazon\.com\/neuron: 16 of 16 Trainium2, tensor_parallel_size 64/);
    expect(good.text).toMatch(/196,608 B\/token for the first 8,192 tokens, then 49,152 B\/token/);
    const bad = await planCommand({ model: "maverick", instance: "p5.48xlarge", dtype: "bf16" });
    expect(bad.ok).toBe(false);
    expect(bad.text).toMatch(/fits +NO/);
    expect(bad.text).toMatch(/what fits instead:/);
    expect(bad.text).toMatch(/^ +p5e\.48xlarge +bf16 +herd .* fits /m);
  });

  it("--model accepts a Hugging Face directory with config.json", async () => {
    const hf = join(dir, "maverick-hf");
    await import("node:fs/promises").then((fs) => fs.mkdir(hf));
    await writeFile(join(hf, "config.json"), JSON.stringify(KNOWN_MODEL_CONFIGS["meta-llama/Llama-4-Maverick-17B-128E-Instruct"]));
    const spec = await loadModelSpec(hf);
    expect(spec.source).toBe("hf-config");
    expect(countParams(spec).total).toBe(401_583_781_376);
  });

  it("--model accepts a GGUF: parameters and bytes from its tensors, Llama 4 chunking from llama.cpp's rule", async () => {
    const path = await ensureEmbeddedModel({ preset: "tiny" });
    const spec = await loadModelSpec(path);
    expect(spec.source).toBe("gguf");
    expect(spec.measured!.totalParams).toBe(countRandomParams(TINY_CONFIG));
    expect(spec.measured!.fileType).toBe("f16");
    expect(spec.measured!.weightBytes).toBeLessThan((await stat(path)).size);
    expect(spec.measured!.weightBytes).toBeGreaterThan(2 * countRandomParams(TINY_CONFIG) - 1);
    expect([spec.numLayers, spec.chunkedLayers, spec.attentionChunkSize, spec.numKvHeads, spec.headDim]).toEqual([
      4,
      [0, 1, 2],
      8192,
      2,
      32,
    ]);
    expect(spec.moeLayers).toEqual([1, 3]);
    const { text, ok } = await planCommand({ model: path, instance: "m7i.48xlarge" });
    expect(ok).toBe(true);
    expect(text).toMatch(/backend herd, f16/);
  });

  it("says what is wrong with a bad --model or --instance", async () => {
    await expect(loadModelSpec(join(dir, "nope"))).rejects.toThrow(/not a known id/);
    await writeFile(join(dir, "junk.bin"), "not a model");
    await expect(loadModelSpec(join(dir, "junk.bin"))).rejects.toThrow(/not a GGUF file/);
    await expect(planCommand({ model: "scout", instance: "trn9.huge" })).rejects.toThrow(
      /unknown --instance trn9\.huge; known: trn2\.48xlarge/,
    );
    await expect(planCommand({ model: "scout", instance: "trn2.48xlarge", devices: "32" })).rejects.toThrow(/--devices must be 1…16/);
  });

  it("Maverick on p5.48xlarge: the default (q8_0) fits; bf16 names q8_0 and fp8 (vllm) fits with prices", async () => {
    const dflt = await planCommand({ model: "maverick", instance: "p5.48xlarge" });
    expect(dflt.ok).toBe(true);
    expect(dflt.text).toMatch(/backend herd, q8_0/);
    expect(dflt.text).toMatch(/price +\$55\.04\/h on demand/);
    const bf16 = await planCommand({ model: "maverick", instance: "p5.48xlarge", dtype: "bf16" });
    expect(bf16.text).toMatch(/smaller weights on p5\.48xlarge:\n.*\n +q8_0 +herd +≈ 426\.7 GB .* fits +\$55\.04\/h +--dtype q8_0/);
    const vllm = await planCommand({ model: "maverick", instance: "p5.48xlarge", backend: "vllm" });
    expect(vllm.ok).toBe(false);
    expect(vllm.text).toMatch(/^ +fp8 +vllm +401\.6 GB .*8 × H100 80GB, TP 8 +fits .* --dtype fp8$/m);
    const fp8 = await planCommand({ model: "maverick", instance: "p5.48xlarge", backend: "vllm", dtype: "fp8" });
    expect(fp8.ok).toBe(true);
    expect(fp8.text).toMatch(
      /vLLM flags +--tensor-parallel-size 8 --gpu-memory-utilization 0\.9 --max-model-len 16384 .*--quantization fp8/,
    );
  });

  it("--json of a plan that does not fit carries whatFits", async () => {
    const { text, ok } = await planCommand({ model: "scout", instance: "g5.xlarge", json: true });
    expect(ok).toBe(false);
    const p = JSON.parse(text) as Plan & { whatFits: WhatFits };
    expect(p.dtype).toBe("q8_0");
    expect(p.hourlyUsd).toBe(1.006);
    expect(p.whatFits.smallerDtypes.map((o) => o.dtype)).toEqual(["q4_k_m"]);
    expect(p.whatFits.instances[0]).toMatchObject({ accelerator: "nvidia", fits: true });
    expect(p.whatFits.instances.every((o) => typeof o.hourlyUsd === "number" || o.hourlyUsd === null)).toBe(true);
  });

  it("plan, deploy and compile share one default weight format: q8_0 / Q8_0", () => {
    expect(DEFAULT_COMPILE_QUANT.toLowerCase()).toBe(defaultDtype("herd"));
    const program = new Command();
    registerCompile(program);
    const quant = program.commands.find((c) => c.name() === "compile")!.options.find((o) => o.long === "--quant")!;
    expect(quant.defaultValue).toBe(DEFAULT_COMPILE_QUANT);
  });

  it("--model accepts a herd artifact folder: the manifest's GGUF is read", async () => {
    const gguf = await ensureEmbeddedModel({ preset: "tiny" });
    const art = join(dir, "tiny-artifact");
    await mkdir(art);
    await copyFile(gguf, join(art, "tiny-F16.gguf"));
    const file = { path: "tiny-F16.gguf", role: "model", bytes: (await stat(gguf)).size, sha256: await sha256File(gguf), type: "F16" };
    for (const kind of [undefined, "herd"]) {
      const manifest = { format: "herd-artifact", formatVersion: 1, ...(kind ? { kind } : {}), quantization: "F16", files: [file] };
      await writeFile(join(art, MANIFEST_FILE), JSON.stringify(manifest));
      const spec = await loadModelSpec(art);
      expect([spec.source, spec.measured!.fileType, spec.measured!.totalParams]).toEqual(["gguf", "f16", countRandomParams(TINY_CONFIG)]);
    }
    const { text, ok } = await planCommand({ model: art, instance: "g5.xlarge" });
    expect(ok).toBe(true);
    expect(text).toMatch(/tiny-artifact on g5\.xlarge \(backend herd, f16/);
    await rm(join(art, "tiny-F16.gguf"));
    await expect(loadModelSpec(art)).rejects.toThrow(/names tiny-F16\.gguf, which is missing/);
  });

  it("--model accepts a Neuron artifact folder: config.json, or NxD Inference's neuron_config.json", async () => {
    const neuron = join(dir, "scout-neuron");
    await mkdir(neuron);
    await writeFile(join(neuron, MANIFEST_FILE), JSON.stringify({ format: "herd-artifact", formatVersion: 1, kind: "neuron", files: [] }));
    const cfg = KNOWN_MODEL_CONFIGS["meta-llama/Llama-4-Scout-17B-16E-Instruct"] as Record<string, unknown>;
    // neuron_config.json: the model's attributes without model_type, and the Neuron settings beside them.
    const { model_type: _drop, ...rest } = cfg;
    await writeFile(join(neuron, "neuron_config.json"), JSON.stringify({ ...rest, neuron_config: { tp_degree: 64, batch_size: 1 } }));
    const spec = await loadModelSpec(neuron);
    expect([spec.source, spec.architecture, countParams(spec).total]).toEqual(["hf-config", "llama4", 108_641_793_536]);
    const { text, ok } = await planCommand({ model: neuron, instance: "trn2.48xlarge" });
    expect(ok).toBe(true);
    expect(text).toMatch(/backend vllm-neuron, bf16/);
    await writeFile(join(neuron, "config.json"), JSON.stringify(KNOWN_MODEL_CONFIGS["meta-llama/Llama-4-Maverick-17B-128E-Instruct"]));
    expect(countParams(await loadModelSpec(neuron)).total).toBe(401_583_781_376);
    const empty = join(dir, "empty");
    await mkdir(empty);
    await expect(loadModelSpec(empty)).rejects.toThrow(/no herd-manifest\.json naming a GGUF, no config\.json and no neuron_config\.json/);
  });

  it("--model with another Hub id fetches its config.json (HF_ENDPOINT, HF_TOKEN); offline it says what to do", async () => {
    const repo = "acme/Llama-4-Scout-Finetune";
    const server = createServer((req, res) => {
      if (req.headers.authorization !== "Bearer hf_x") return void res.writeHead(401).end();
      if (req.url !== `/${repo}/resolve/main/config.json`) return void res.writeHead(404).end();
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify(KNOWN_MODEL_CONFIGS["meta-llama/Llama-4-Scout-17B-16E-Instruct"]));
    });
    await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
    const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const spec = await loadModelSpec(repo, { HF_ENDPOINT: endpoint, HF_TOKEN: "hf_x" });
      expect([spec.id, countParams(spec).total]).toEqual([repo, 108_641_793_536]);
      await expect(loadModelSpec(repo, { HF_ENDPOINT: endpoint, HF_TOKEN_PATH: join(dir, "none") })).rejects.toThrow(
        /HTTP 401 .* set HF_TOKEN; herd plan needs acme\/Llama-4-Scout-Finetune's config\.json/,
      );
    } finally {
      await new Promise((ok) => server.close(ok));
    }
    await expect(loadModelSpec(repo, { HF_ENDPOINT: "http://127.0.0.1:1", HF_TOKEN: "x" })).rejects.toThrow(
      /cannot reach http:\/\/127\.0\.0\.1:1 .*download it .* or plan a known model/,
    );
    await expect(loadModelSpec("s3://bucket/scout-q8_0")).rejects.toThrow(/herd artifacts pull s3:\/\/bucket\/scout-q8_0 DIR/);
  });

  it("--list-instances prints the catalog with sources", async () => {
    const { text } = await planCommand({ instance: "trn2.48xlarge", listInstances: true });
    expect(text).toMatch(/trn2\.48xlarge +Trainium2 +16 +64 +96\.0 GB/);
    expect(text).toMatch(/p5e\.48xlarge +H200 141GB +8/);
  });
});
