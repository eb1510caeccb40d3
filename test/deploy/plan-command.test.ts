import { mkdtemp, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadModelSpec, planCommand } from "../../src/cli/commands/plan.js";
import { ensureEmbeddedModel } from "../../src/model/embedded.js";
import { countParams as countRandomParams, TINY_CONFIG } from "../../src/model/llama4/random-model.js";
import { KNOWN_MODEL_CONFIGS } from "../../src/planner/known-models.js";
import { countParams } from "../../src/planner/params.js";

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
    const bad = await planCommand({ model: "maverick", instance: "p5.48xlarge" });
    expect(bad.ok).toBe(false);
    expect(bad.text).toMatch(/fits +NO/);
    expect(bad.text).toMatch(/fits instead on: .*p5e\.48xlarge/);
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

  it("--list-instances prints the catalog with sources", async () => {
    const { text } = await planCommand({ instance: "trn2.48xlarge", listInstances: true });
    expect(text).toMatch(/trn2\.48xlarge +Trainium2 +16 +64 +96\.0 GB/);
    expect(text).toMatch(/p5e\.48xlarge +H200 141GB +8/);
  });
});
