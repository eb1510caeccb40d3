/**
 * Which package's llama.cpp libraries herd loads on which CPU (no library is loaded here): the x64
 * builds, or on arm64 (Graviton) @node-llama-cpp/linux-arm64, which npm installs with node-llama-cpp.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { describe, expect, it } from "vitest";
import { libraryPackage } from "./library.js";

describe("libraryPackage", () => {
  it("x64: one package per device", () => {
    expect(["cpu", "cuda", "vulkan"].map((d) => libraryPackage(d as "cpu", "x64"))).toEqual([
      "@node-llama-cpp/linux-x64",
      "@node-llama-cpp/linux-x64-cuda",
      "@node-llama-cpp/linux-x64-vulkan",
    ]);
  });

  it("arm64: the CPU build only", () => {
    expect(libraryPackage("cpu", "arm64")).toBe("@node-llama-cpp/linux-arm64");
    expect(() => libraryPackage("cuda", "arm64")).toThrow(/--device cuda needs linux-x64 .* on linux-arm64 use --device cpu/);
  });

  it("the arm64 package is in node_modules at node-llama-cpp's version, with the library names herd resolves", () => {
    const require = createRequire(import.meta.url);
    const version = (dir: string) => (JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as { version: string }).version;
    const dir = dirname(dirname(require.resolve("@node-llama-cpp/linux-arm64"))); // <pkg>/dist/index.js → <pkg>
    expect(version(dir)).toBe(version(join(dir, "../../node-llama-cpp")));
    const bins = join(dir, "bins");
    const sub = readdirSync(bins).find((d) => existsSync(join(bins, d)))!;
    const files = readdirSync(join(bins, sub));
    expect(files.some((f) => /^libllama\..*\.so$/.test(f) && !f.includes("common"))).toBe(true);
    expect(files.some((f) => /^libggml\.(?!base).*\.so$/.test(f))).toBe(true);
  });
});
