/**
 * libmtmd (llama.cpp's vision encoder library) on demand: built once per device package from the
 * llama.cpp source bundled with node-llama-cpp, against that package's prebuilt libllama/libggml
 * (`scripts/build-mtmd.sh`, about a minute on 2 cores), and cached.
 *
 * Cache: `$HERD_CACHE_DIR/mtmd/` (default `~/.cache/herd/mtmd/`), then `<llama.cpp release>/<device>-<key>/libmtmd.so`,
 * where the key hashes the build script and the prebuilt library names, so a changed recipe or package
 * builds anew. The file appears atomically (built in a temp folder, renamed into place); concurrent
 * callers share one build: in-process through a shared promise, across processes through a lock file.
 * `HERD_LIBMTMD=<path>` skips all of it and uses that library (e.g. one built into a container image).
 * @module
 */
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readFileSync, statSync } from "node:fs";
import { mkdir, open, readFile, stat, unlink } from "node:fs/promises";
import { createRequire } from "node:module";
import { homedir } from "node:os";
import { basename, dirname, join, resolve } from "node:path";
import { getEnv } from "../config/env.js";
import { DEVICE_KINDS, resolveLibraryFiles, type DeviceKind } from "./library.js";

export class MtmdBuildError extends Error {
  override readonly name = "MtmdBuildError";
}

export interface LibmtmdOptions {
  /** Root of the libmtmd cache; default `$HERD_CACHE_DIR/mtmd` or `~/.cache/herd/mtmd`. */
  readonly cacheDir?: string;
  /** Parallel compile jobs; default `$HERD_BUILD_JOBS` or 2. */
  readonly jobs?: number;
  /** Progress lines ("building…", "built in …"); default: written to stderr. */
  readonly log?: (line: string) => void;
}

export function defaultMtmdCacheDir(): string {
  return join(getEnv("HERD_CACHE_DIR") ?? join(homedir(), ".cache", "herd"), "mtmd");
}

/** node-llama-cpp's install folder (its `exports` hide package.json, so resolve the entry point). */
function nodeLlamaCppDir(): string {
  const entry = createRequire(import.meta.url).resolve("node-llama-cpp"); // <pkg>/dist/index.js
  return dirname(dirname(entry));
}

/** The llama.cpp release the prebuilt binaries come from, e.g. `v0.4.0`. */
export function llamaCppRelease(): string {
  const info = JSON.parse(readFileSync(join(nodeLlamaCppDir(), "llama", "binariesGithubRelease.json"), "utf8")) as { release?: string };
  if (!info.release) throw new MtmdBuildError("node-llama-cpp's llama/binariesGithubRelease.json has no release");
  return info.release;
}

/** `scripts/build-mtmd.sh`, found from this module upwards (src/native or dist/src/native). */
export function buildScriptPath(): string {
  let dir = import.meta.dirname;
  for (let i = 0; i < 5; i++) {
    const p = join(dir, "scripts", "build-mtmd.sh");
    if (existsSync(p)) return p;
    dir = dirname(dir);
  }
  throw new MtmdBuildError(
    "scripts/build-mtmd.sh is not installed next to herd, so libmtmd (needed for image input) cannot be built here; " +
      "build it where the repository is (npm run build:mtmd) and set HERD_LIBMTMD=<path to libmtmd.so>",
  );
}

/** Where the libmtmd for `device` lives (built or not). */
export function libmtmdPath(device: DeviceKind, opts: Pick<LibmtmdOptions, "cacheDir"> = {}): string {
  const files = resolveLibraryFiles(device);
  const key = createHash("sha256")
    .update(readFileSync(buildScriptPath()))
    .update(JSON.stringify([basename(files.libllama), basename(files.libggml), files.binDir]))
    .digest("hex")
    .slice(0, 12);
  return join(opts.cacheDir ?? defaultMtmdCacheDir(), llamaCppRelease(), `${device}-${key}`, "libmtmd.so");
}

const inFlight = new Map<string, Promise<string>>();

/**
 * Path of a libmtmd.so built against the prebuilt libraries of `device`, building it first when it is
 * not cached yet (about 1 minute on 2 free cores; needs git, cmake and g++: the error says which are missing).
 */
export function ensureLibmtmd(device: DeviceKind = "cpu", opts: LibmtmdOptions = {}): Promise<string> {
  const override = getEnv("HERD_LIBMTMD");
  if (override !== undefined) {
    if (!existsSync(override)) return Promise.reject(new MtmdBuildError(`HERD_LIBMTMD=${override} does not exist`));
    return Promise.resolve(override);
  }
  let out: string;
  try {
    out = libmtmdPath(device, opts);
  } catch (e) {
    return Promise.reject(e);
  }
  let p = inFlight.get(out);
  if (!p) {
    p = (async () => {
      if (!isFile(out)) await withLock(`${out}.lock`, out, () => build(device, out, opts));
      return out;
    })().finally(() => inFlight.delete(out));
    inFlight.set(out, p);
  }
  return p;
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

async function build(device: DeviceKind, out: string, opts: LibmtmdOptions): Promise<void> {
  const log = opts.log ?? ((line: string) => process.stderr.write(`herd: ${line}\n`));
  const files = resolveLibraryFiles(device);
  const bundle = join(nodeLlamaCppDir(), "llama", "gitRelease.bundle");
  const jobs = Math.max(1, opts.jobs ?? getEnv("HERD_BUILD_JOBS"));
  log(`building libmtmd for --device ${device} against ${files.binDir} (one time, about a minute on 2 cores) → ${out}`);
  const t0 = performance.now();
  const args = [buildScriptPath(), "--bin-dir", files.binDir, "--bundle", bundle, "--out", out, "--jobs", String(jobs)];
  const { code, stderr } = await new Promise<{ code: number | null; stderr: string }>((resolve, reject) => {
    const child = spawn("bash", args, { stdio: ["ignore", "ignore", "pipe"] });
    let err = "";
    child.stderr.setEncoding("utf8").on("data", (d: string) => {
      err = (err + d).slice(-16_000);
    });
    child.on("error", reject).on("close", (c) => resolve({ code: c, stderr: err }));
  });
  if (code !== 0) {
    throw new MtmdBuildError(`building libmtmd failed (exit ${code}):\n${stderr.trim()}`);
  }
  log(`built libmtmd in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
}

const STALE_LOCK_MS = 30 * 60 * 1000;
const POLL_MS = 500;

/** Runs `make` holding `lock` (O_EXCL file with the owner's pid), unless `out` appears meanwhile. */
async function withLock(lock: string, out: string, make: () => Promise<void>): Promise<void> {
  await mkdir(dirname(lock), { recursive: true });
  for (;;) {
    if (isFile(out)) return;
    let handle: Awaited<ReturnType<typeof open>> | undefined;
    try {
      handle = await open(lock, "wx");
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
    }
    if (handle) {
      try {
        await handle.writeFile(String(process.pid));
        await handle.close();
        if (!isFile(out)) await make();
      } finally {
        await unlink(lock).catch(() => {});
      }
      return;
    }
    if (await lockIsStale(lock)) await unlink(lock).catch(() => {});
    else await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

async function lockIsStale(lock: string): Promise<boolean> {
  try {
    const [text, st] = await Promise.all([readFile(lock, "utf8"), stat(lock)]);
    if (Date.now() - st.mtimeMs > STALE_LOCK_MS) return true;
    const pid = Number(text);
    if (!Number.isInteger(pid) || pid <= 0) return Date.now() - st.mtimeMs > 5000; // being written
    try {
      process.kill(pid, 0);
      return false;
    } catch (e) {
      return (e as NodeJS.ErrnoException).code === "ESRCH";
    }
  } catch {
    return false; // vanished: the next loop takes it
  }
}

// `npm run build:mtmd [-- cuda|vulkan]` or `node dist/src/native/mtmd-build.js [device]`: build ahead of
// first use (e.g. at install or in an image build) and print the path.
if (process.argv[1] && import.meta.filename === resolve(process.argv[1])) {
  const device = (process.argv[2] ?? "cpu") as DeviceKind;
  if (!DEVICE_KINDS.includes(device)) {
    console.error(`usage: build:mtmd [${DEVICE_KINDS.join("|")}]`);
    process.exit(2);
  }
  ensureLibmtmd(device).then(
    (path) => console.log(path),
    (e: unknown) => {
      console.error(e instanceof Error ? e.message : e);
      process.exit(1);
    },
  );
}
