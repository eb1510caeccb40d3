/**
 * What `herd serve --model` accepts: artifact folders verified against their manifest (full, size,
 * none) and refused with a message naming what differs, plain GGUF files, names under
 * `--artifacts`; and the real `herd serve` process serving a compiled artifact folder, or refusing
 * a corrupted one before loading anything.
 */
import { cp, mkdtemp, open, readFile, rm, truncate, unlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { resolveServeModel } from "../../src/compile/artifacts.js";
import { compileCheckpoint, type CompileResult } from "../../src/compile/compile.js";
import { ArtifactVerificationError, MANIFEST_FILE } from "../../src/compile/manifest.js";
import { startHerd } from "../e2e/helpers/herd-server.js";
import { sharedFixture } from "../fixtures/paths.js";

const { path: FIXTURE, present: have } = sharedFixture("llama4-tiny-hf");

let dir: string;
let art: CompileResult;
beforeAll(async () => {
  if (!have) return;
  dir = await mkdtemp(join(tmpdir(), "herd-serve-model-"));
  art = await compileCheckpoint(FIXTURE, join(dir, "tiny-f16"), { quant: "F16", name: "tiny" });
});
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function copyArtifact(name: string): Promise<string> {
  const d = join(dir, name);
  await cp(art.outDir, d, { recursive: true });
  return d;
}

async function flipByte(path: string, at: number): Promise<void> {
  const fh = await open(path, "r+");
  const b = Buffer.alloc(1);
  await fh.read(b, 0, 1, at);
  b[0]! ^= 0x40;
  await fh.write(b, 0, 1, at);
  await fh.close();
}

describe.skipIf(!have)("resolveServeModel", () => {
  it("returns the GGUF and mmproj of an intact artifact folder, and passes plain GGUF files through", async () => {
    const m = await resolveServeModel(art.outDir);
    expect(m.ggufPath).toBe(join(art.outDir, "tiny-F16.gguf"));
    expect(m.mmprojPath).toBe(join(art.outDir, "mmproj-tiny-F16.gguf"));
    expect(m.manifest?.quantization).toBe("F16");
    expect(await resolveServeModel(m.ggufPath)).toEqual({ ggufPath: m.ggufPath });
    expect((await resolveServeModel("tiny-f16", { artifacts: dir })).ggufPath).toBe(m.ggufPath);
    await expect(resolveServeModel("nope", { artifacts: dir })).rejects.toThrow(/no artifact folder .*nope/);
    await expect(resolveServeModel("nope")).rejects.toThrow(/not a GGUF file, an artifact folder or an s3:\/\/ URL/);
  });

  it("a flipped byte fails --verify full (naming the file and both hashes), passes size and none", async () => {
    const d = await copyArtifact("flipped");
    await flipByte(join(d, "tiny-F16.gguf"), 1_000_000);
    const err = (await resolveServeModel(d).catch((e: unknown) => e)) as ArtifactVerificationError;
    expect(err).toBeInstanceOf(ArtifactVerificationError);
    expect(err.problems).toHaveLength(1);
    expect(err.problems[0]).toMatch(/^tiny-F16\.gguf: sha256 [0-9a-f]{12}…, manifest says [0-9a-f]{12}… \(corrupted or replaced\)$/);
    expect(err.message).toMatch(/Refusing to load it/);
    await expect(resolveServeModel(d, { verify: "size" })).resolves.toMatchObject({ ggufPath: join(d, "tiny-F16.gguf") });
    await expect(resolveServeModel(d, { verify: "none" })).resolves.toBeDefined();
  });

  it("a truncated or missing file fails --verify size; a folder without a manifest is refused", async () => {
    const d = await copyArtifact("truncated");
    await truncate(join(d, "tiny-F16.gguf"), 1000);
    await unlink(join(d, "mmproj-tiny-F16.gguf"));
    const err = (await resolveServeModel(d, { verify: "size" }).catch((e: unknown) => e)) as ArtifactVerificationError;
    expect(err.problems).toEqual([
      `tiny-F16.gguf: 1000 bytes, manifest says ${art.manifest.files[0]!.bytes}`,
      `mmproj-tiny-F16.gguf: missing (manifest lists ${art.manifest.files[1]!.bytes} bytes)`,
    ]);
    const bare = await copyArtifact("bare");
    await unlink(join(bare, MANIFEST_FILE));
    await expect(resolveServeModel(bare)).rejects.toThrow(/no herd-manifest\.json: not a compiled herd artifact/);
  });

  it("a manifest from a newer herd is refused with the reason", async () => {
    const d = await copyArtifact("newer");
    const m = JSON.parse(await readFile(join(d, MANIFEST_FILE), "utf8")) as Record<string, unknown>;
    const { writeFile } = await import("node:fs/promises");
    await writeFile(join(d, MANIFEST_FILE), JSON.stringify({ ...m, formatVersion: 2 }));
    await expect(resolveServeModel(d)).rejects.toThrow(/manifest format version 2; this herd reads version 1/);
  });
});

describe.skipIf(!have)("herd serve --model ARTIFACT_DIR", () => {
  it("serves a compiled artifact folder (verified in full first)", async () => {
    const server = await startHerd(["--model", art.outDir, "--max-model-len", "256", "--threads", "1"]);
    try {
      const models = (await (await server.fetch("/v1/models")).json()) as { data: Array<{ id: string }> };
      expect(models.data[0]!.id).toBe("tiny-F16");
      const r = (await (
        await server.fetch("/v1/completions", {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ model: "tiny-F16", prompt: "the cat", max_tokens: 4, ignore_eos: true }),
        })
      ).json()) as {
        usage: { completion_tokens: number };
      };
      expect(r.usage.completion_tokens).toBe(4);
    } finally {
      await server.stop();
    }
  });

  it("refuses a corrupted artifact with a message that says what differs, before loading", async () => {
    const d = await copyArtifact("serve-flipped");
    await flipByte(join(d, "mmproj-tiny-F16.gguf"), 100_000);
    await expect(startHerd(["--model", d, "--threads", "1"], { readyTimeoutMs: 60_000 })).rejects.toThrow(
      /mmproj-tiny-F16\.gguf: sha256 .* manifest says .*Refusing to load it/s,
    );
  });
});
