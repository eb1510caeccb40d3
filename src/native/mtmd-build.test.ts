import { describe, expect, it, vi } from "vitest";
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import { mkdir, mkdtemp, rm, symlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { type EnvName, isCI, processEnv } from "../config/env.js";
import { ensureLibmtmd, libmtmdPath, llamaCppRelease, MtmdBuildError } from "./mtmd-build.js";
import { resolveLibraryFiles } from "./library.js";

const which = (tool: string): string | null => {
  try {
    return execFileSync("bash", ["-c", `command -v ${tool}`], { encoding: "utf8" }).trim() || null;
  } catch {
    return null;
  }
};

/** Runs `fn` with the variable `name` set to `value` (or unset), then restores it. */
async function withEnv<T>(name: EnvName, value: string | undefined, fn: () => Promise<T>): Promise<T> {
  const saved = processEnv()[name];
  vi.stubEnv(name, value);
  try {
    return await fn();
  } finally {
    vi.stubEnv(name, saved);
  }
}

describe("ensureLibmtmd", () => {
  it.runIf(isCI())("CI has the build tools (Debian: apt-get install -y cmake g++ make git)", () => {
    for (const tool of ["cmake", "g++", "git"]) expect(which(tool), `${tool} on PATH`).not.toBeNull();
    expect(which("make") ?? which("ninja"), "make or ninja on PATH").not.toBeNull();
  });

  it("builds libmtmd against the prebuilt libraries once, into the cache (or reuses it)", { timeout: 30 * 60_000 }, async () => {
    const expected = libmtmdPath("cpu");
    expect(expected).toContain(join("mtmd", llamaCppRelease(), "cpu-"));
    const built = !existsSync(expected);
    const t0 = performance.now();
    const [a, b] = await withEnv("HERD_LIBMTMD", undefined, () => Promise.all([ensureLibmtmd("cpu"), ensureLibmtmd("cpu")]));
    const seconds = (performance.now() - t0) / 1000;
    if (built) console.log(`libmtmd built in ${seconds.toFixed(0)} s → ${a}`);
    expect(a).toBe(expected);
    expect(b).toBe(a);
    expect(statSync(a).size).toBeGreaterThan(1e6);
    // Nothing left behind: no lock, no temp build folder.
    expect(readdirSync(dirname(a))).toEqual(["libmtmd.so"]);
    // Linked against the device's prebuilt libraries (found through its RUNPATH), no undefined symbols.
    const elf = execFileSync("readelf", ["-d", a], { encoding: "utf8" });
    expect(elf).toContain("libllama.v0.4.0.so");
    expect(elf).toContain(resolveLibraryFiles("cpu").binDir);
    // A cached build is reused as is: no build runs (nothing logged), the file is untouched.
    const before = statSync(a);
    const log: string[] = [];
    expect(await withEnv("HERD_LIBMTMD", undefined, () => ensureLibmtmd("cpu", { log: (line) => log.push(line) }))).toBe(a);
    expect(log).toEqual([]);
    expect(statSync(a)).toMatchObject({ ino: before.ino, mtimeMs: before.mtimeMs, size: before.size });
  });

  it("says which tools are missing instead of failing obscurely", async () => {
    const dir = await mkdtemp(join(tmpdir(), "herd-mtmd-notools-"));
    try {
      const bin = join(dir, "bin");
      await mkdir(bin);
      await symlink(which("bash")!, join(bin, "bash")); // a PATH with bash and nothing else
      const err = await withEnv("HERD_LIBMTMD", undefined, () =>
        withEnv("PATH", bin, () => ensureLibmtmd("cpu", { cacheDir: join(dir, "cache"), log: () => {} }).catch((e: unknown) => e)),
      );
      expect(err).toBeInstanceOf(MtmdBuildError);
      expect((err as Error).message).toMatch(/missing git cmake g\+\+ gcc make/);
      expect((err as Error).message).toMatch(/apt-get install -y cmake g\+\+ make git/);
      const out = libmtmdPath("cpu", { cacheDir: join(dir, "cache") });
      expect(existsSync(out)).toBe(false);
      expect(readdirSync(dirname(out))).toEqual([]); // lock released
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("uses HERD_LIBMTMD when set", async () => {
    const lib = join(resolveLibraryFiles("cpu").binDir, "libggml-base.so"); // any existing file
    expect(await withEnv("HERD_LIBMTMD", lib, () => ensureLibmtmd("cpu"))).toBe(lib);
    await expect(withEnv("HERD_LIBMTMD", "/nonexistent/libmtmd.so", () => ensureLibmtmd("cpu"))).rejects.toThrow(/does not exist/);
  });
});
