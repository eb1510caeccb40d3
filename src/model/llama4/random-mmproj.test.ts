import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { readGgufFileInfo } from "node-llama-cpp";
import { embeddedMmprojFileName, embeddedModelFileName, ensureEmbeddedMmproj } from "../embedded.js";
import {
  generateLlama4Mmproj,
  LLAMA4_MMPROJ_GENERATOR_VERSION,
  LLAMA4_VISION_PRESETS,
  planMmprojTensors,
  tokensPerTile,
  validateVisionConfig,
  type GeneratedMmproj,
} from "./random-mmproj.js";
import { sharedFixture } from "../../../test/fixtures/paths.js";

const sha256 = (path: string) => createHash("sha256").update(readFileSync(path)).digest("hex");

/** llama.cpp's own conversion of a tiny HF Llama 4 (`../shared/fixtures`); a failure under CI when missing. */
const reference = sharedFixture("llama4-tiny-hf.reference.json");

let dir: string;
let tiny: GeneratedMmproj;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "herd-mmproj-"));
  tiny = await generateLlama4Mmproj(join(dir, "a.gguf"), "tiny");
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("generateLlama4Mmproj", () => {
  it("is deterministic: two generations are byte-identical", async () => {
    const again = await generateLlama4Mmproj(join(dir, "b.gguf"), "tiny");
    expect(again.bytes).toBe(tiny.bytes);
    expect(sha256(again.path)).toBe(sha256(tiny.path));
  });

  it("has Scout's tile geometry (336 px, patch 14, 2×2 shuffle → 144 embeddings) and projects to the tiny model's width", () => {
    const c = LLAMA4_VISION_PRESETS.tiny;
    expect(tokensPerTile(c)).toBe(144);
    expect(c.projectionDim).toBe(128);
    expect(tokensPerTile(LLAMA4_VISION_PRESETS.bench)).toBe(144);
    expect(LLAMA4_VISION_PRESETS.bench.projectionDim).toBe(1024);
    expect(tiny.params).toBe(planMmprojTensors(c).reduce((n, t) => n + t.shape.reduce((a, b) => a * b, 1), 0));
  });

  it("writes the clip keys and the tensors of llama.cpp's converter, with ln2 named correctly", async () => {
    const info = await readGgufFileInfo(tiny.path, { logWarnings: false });
    const md = info.metadata as unknown as Record<string, Record<string, unknown>>;
    expect(md.general).toMatchObject({ architecture: "clip", type: "mmproj", file_type: 1 });
    expect(md.clip).toMatchObject({ projector_type: "llama4", has_vision_encoder: true, use_gelu: true });
    expect(md.clip!.vision).toMatchObject({
      image_size: 336,
      patch_size: 14,
      embedding_length: 64,
      feed_forward_length: 256,
      block_count: 3,
      projection_dim: 128,
      attention: { head_count: 4 },
      projector: { scale_factor: 2 },
    });
    expect(md.herd).toMatchObject({ random_weights: true, preset: "tiny", generator_version: LLAMA4_MMPROJ_GENERATOR_VERSION });
    const names = info.tensorInfo!.map((t) => t.name);
    expect(names).toContain("v.blk.2.ln2.weight");
    expect(names.some((n) => n.includes("attn_post_norm"))).toBe(false);
    expect(info.tensorInfo!.find((t) => t.name === "v.position_embd.weight")!.dimensions.map(Number)).toEqual([64, 577]);
  });

  it.skipIf(!reference.present)(
    "matches the reference conversion of a tiny HF tower tensor for tensor (names, types, shapes, keys)",
    async () => {
      type Ref = Record<string, { type: string; shape: number[] }>;
      const ref = JSON.parse(readFileSync(reference.path, "utf8")) as { mmproj: Ref; mmproj_metadata: Record<string, unknown> };
      // The fixture's tower is ours with 112 px tiles: only the position table (patches + CLS) differs.
      const c = { ...LLAMA4_VISION_PRESETS.tiny, imageSize: 112 };
      const path = (await generateLlama4Mmproj(join(dir, "ref.gguf"), c)).path;
      const info = await readGgufFileInfo(path, { logWarnings: false });
      const ours = Object.fromEntries(
        info.tensorInfo!.map((t) => [t.name, { type: t.ggmlType === 0 ? "F32" : "F16", shape: t.dimensions.map(Number) }]),
      );
      const theirs = Object.fromEntries(Object.entries(ref.mmproj).map(([n, t]) => [n, { type: t.type, shape: t.shape }]));
      expect(ours).toEqual(theirs);
      expect(info.tensorInfo!.map((t) => t.name)).toEqual(Object.keys(ref.mmproj)); // same order too
      const keys = Object.keys(ref.mmproj_metadata);
      const flat = (o: Record<string, unknown>, p = ""): string[] =>
        Object.entries(o).flatMap(([k, v]) =>
          v && typeof v === "object" && !Array.isArray(v) ? flat(v as Record<string, unknown>, `${p}${k}.`) : [`${p}${k}`],
        );
      const ourKeys = flat(info.metadata as unknown as Record<string, unknown>).filter((k) => !k.startsWith("herd."));
      expect(new Set(ourKeys)).toEqual(new Set(keys));
      expect(ref.mmproj_metadata["clip.vision.projector.scale_factor"]).toBe(c.scaleFactor);
    },
  );

  it("rejects configs llama.cpp would not run", () => {
    const c = LLAMA4_VISION_PRESETS.tiny;
    expect(() => validateVisionConfig({ ...c, nLayer: 2 })).toThrow(/at least 3/);
    expect(() => validateVisionConfig({ ...c, nHead: 32 })).toThrow(/multiple of 4/); // head size 2
    expect(() => validateVisionConfig({ ...c, imageSize: 330 })).toThrow(/multiple of patchSize/);
    expect(() => validateVisionConfig(c)).not.toThrow();
  });
});

describe("ensureEmbeddedMmproj", () => {
  it("generates the tiny tower once into the model cache, next to an unchanged text model name", async () => {
    const cache = join(dir, "cache");
    const [a, b] = await Promise.all([
      ensureEmbeddedMmproj({ cacheDir: cache }),
      ensureEmbeddedMmproj({ cacheDir: cache, preset: "tiny" }),
    ]);
    expect(a).toBe(b);
    expect(basename(a)).toBe(embeddedMmprojFileName("tiny"));
    expect(basename(a)).toMatch(/^herd-llama4-tiny-mmproj-[0-9a-f]{16}\.gguf$/);
    expect(await readdir(cache)).toEqual([basename(a)]);
    expect(sha256(a)).toBe(sha256(tiny.path));
    expect(embeddedMmprojFileName("bench")).not.toBe(embeddedMmprojFileName("tiny"));
    expect(embeddedModelFileName("tiny")).toMatch(/^herd-llama4-tiny-[0-9a-f]{16}\.gguf$/);
  });

  it("rejects unknown presets", async () => {
    await expect(ensureEmbeddedMmproj({ cacheDir: dir, preset: "huge" as "tiny" })).rejects.toThrow(/unknown embedded model preset/);
  });
});
