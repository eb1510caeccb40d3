import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { mkdtemp, readdir, rm, stat, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { defaultModelCacheDir, embeddedModelFileName, embeddedModelHash, ensureEmbeddedModel } from "./embedded.js";

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "herd-embedded-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("ensureEmbeddedModel", () => {
  it("generates once for concurrent callers and reuses the cached file", async () => {
    // A temp file from a crashed run two hours ago is cleaned up.
    const stale = join(dir, `.${embeddedModelFileName("tiny")}.1234.abcd.tmp`);
    await writeFile(stale, "partial");
    const twoHoursAgo = new Date(Date.now() - 2 * 3600_000);
    await utimes(stale, twoHoursAgo, twoHoursAgo);
    const [a, b] = await Promise.all([ensureEmbeddedModel({ cacheDir: dir }), ensureEmbeddedModel({ cacheDir: dir, preset: "tiny" })]);
    expect(a).toBe(b);
    expect(basename(a)).toBe(embeddedModelFileName("tiny"));
    expect(basename(a)).toMatch(/^herd-llama4-tiny-[0-9a-f]{16}\.gguf$/);
    expect(await readdir(dir)).toEqual([basename(a)]); // no temp files left
    const before = await stat(a);
    expect(before.size).toBeGreaterThan(100e6);
    expect(await ensureEmbeddedModel({ cacheDir: dir })).toBe(a);
    expect((await stat(a)).mtimeMs).toBe(before.mtimeMs);
  });

  it("names files by preset and a config hash", () => {
    expect(embeddedModelHash("tiny")).not.toBe(embeddedModelHash("bench"));
    expect(embeddedModelFileName("bench", "Q8_0")).toMatch(/^herd-llama4-bench-[0-9a-f]{16}-q8_0\.gguf$/);
  });

  it("defaults the cache dir to $HERD_CACHE_DIR, then ~/.cache/herd/models", () => {
    try {
      vi.stubEnv("HERD_CACHE_DIR", "/somewhere/models");
      expect(defaultModelCacheDir()).toBe("/somewhere/models");
      vi.stubEnv("HERD_CACHE_DIR", undefined);
      expect(defaultModelCacheDir()).toMatch(/\.cache\/herd\/models$/);
    } finally {
      vi.unstubAllEnvs();
    }
  });

  it("rejects unknown presets", async () => {
    await expect(ensureEmbeddedModel({ cacheDir: dir, preset: "huge" as "tiny" })).rejects.toThrow(/unknown embedded model preset/);
  });
});
